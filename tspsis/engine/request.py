"""A run request: what one training or test composes, resolved once, checked once, recorded once.

``RunRequest`` holds the leaf config, the mixins, the options, the data root, the schedule length, the training seed,
the weights a new training starts from and the lab's cache key. The resolved config (``RunRequest.cfg``,
``tspsis.engine.config.finish``) is made from one parse of the files (``tspsis.engine.config.compose``), which a
caller that already parsed them hands in (``composition``): ``tspsis.lab.runs.resolve`` parses a run once, its key and
checks use that parse, and the runner process parses it a second time from the recorded request
(``tspsis.engine.work_dir.REQUEST_FILE``)::

    request = RunRequest("configs/mask_rcnn/ts-….py", mixins=("configs/_base_/ts_variants/crf.py",), max_iters=500)
    request.check()                          # files, option keys, annotation files, weights: before anything runs
    tspsis.engine.launch.train(request, "work_dirs/ts")   # writes work_dirs/ts/request.json, starts the runner

The record (``RunRequest.record``) is the run's identity: ``resolved`` is its resolved config as JSON values (without
the work dir), which ``tspsis.engine.launch.train`` compares with a work dir's earlier request before reusing it.
``experiment.json`` (the lab's) and ``metrics.json`` (the runner's) name this file rather than repeat it.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from tspsis.core.paths import REPO_ROOT
from tspsis.engine.config import composed_name, compose, finish
_PLACEHOLDER_WORK_DIR = "WORK_DIR"  # the resolved config is an identity without the run's own folder


def _absolute(path: str | Path | None) -> Path | None:
    return None if path is None else Path(path).resolve()


@dataclass(frozen=True)
class RunRequest:
    """One run's composition (see the module docstring). Paths are made absolute; ``composition`` is
    ``compose(config, mixins)`` when the caller has parsed them already (not part of the request's equality)."""

    config: Path
    mixins: tuple[Path, ...] = ()
    cfg_options: tuple[str, ...] = ()
    data_root: Path | None = None
    max_iters: int | None = None
    seed: int | None = None  # the training seed, randomness.seed (None: the config's, else DEFAULT_SEED)
    load_from: Path | None = None  # weights a new training starts from (overrides the config's load_from)
    key: str | None = None  # the lab's cache key (tspsis.lab.runs), recorded; None outside the lab
    composition: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, value in (("config", _absolute(self.config)), ("data_root", _absolute(self.data_root)),
                            ("load_from", _absolute(self.load_from)),
                            ("mixins", tuple(_absolute(m) for m in self.mixins)),
                            ("cfg_options", tuple(str(o) for o in self.cfg_options))):
            object.__setattr__(self, name, value)

    @property
    def name(self) -> str:
        """What trains, as one name (``tspsis.engine.config.composed_name``): the dumped config's and the run folder's."""
        return composed_name(self.config, self.mixins, self.max_iters)

    def resolved_config(self, work_dir: str | Path):
        """The resolved config with its ``work_dir``: from ``composition``, else from one parse of the files."""
        composition = self.composition if self.composition is not None else compose(self.config, self.mixins)
        return finish(composition, str(work_dir), self.cfg_options, self.data_root, self.max_iters, self.seed)

    @cached_property
    def cfg(self):
        """The resolved config without a work dir (made once per request object; do not modify it)."""
        return self.resolved_config(_PLACEHOLDER_WORK_DIR)

    @cached_property
    def identity(self) -> dict:
        """The resolved config as JSON values, without its work dir, with the weights a training starts from."""
        resolved = dict(self.cfg.to_dict(), load_from=str(self.load_from) if self.load_from else self.cfg.get(
            "load_from"))
        resolved.pop("work_dir")
        return json.loads(json.dumps(resolved, sort_keys=True, default=str))

    def test_of(self, cfg_options: tuple[str, ...] | list[str] = ()) -> RunRequest:
        """The request of a test of this training's checkpoint: the same files (and parse), data root and options,
        then ``cfg_options`` (e.g. ``model.roi_head.test_mask_head=teacher``); no schedule, seed, starting weights or
        key (the checkpoint is what is tested)."""
        return dataclasses.replace(self, cfg_options=(*self.cfg_options, *cfg_options), max_iters=None, seed=None,
                                   load_from=None, key=None)

    def check(self, checkpoint: str | Path | None = None) -> None:
        """Before anything is written: the config and mixins exist and parse, every option key exists
        (``tspsis.engine.config.checked_options``), the data root holds every annotation file the config reads,
        and the weights to start from (``load_from``, else the config's) or to test (``checkpoint``) are a complete
        checkpoint. A problem is one ``UserError`` / ``ConfigError`` naming the file or key."""
        from tspsis.core.checkpoint import check_checkpoint_file
        from tspsis.core.errors import UserError

        for where, path in annotation_files(self.cfg):
            if not path.is_file():
                hint = "; `tspsis split` writes a training split" if "train_dataloader" in where else ""
                raise UserError(f"{path}: annotation file not found ({where} of {self.config.name}; check "
                                f"--data-root{hint})")
        for file in filter(None, (self.identity["load_from"], checkpoint)):
            check_checkpoint_file(file)

    def record(self) -> dict:
        """What the request file (``tspsis.engine.work_dir.REQUEST_FILE``) holds: the fields (what the runner
        composes from) and ``resolved`` (``identity``)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "composition"}
        fields = json.loads(json.dumps(fields, default=str))
        return dict(fields, resolved=self.identity)

    @classmethod
    def from_record(cls, record: dict) -> RunRequest:
        """The request a ``record`` was written from (its ``resolved`` is not read: the runner composes anew)."""
        names = {f.name for f in dataclasses.fields(cls)} - {"composition"}
        fields = {k: v for k, v in record.items() if k in names}
        return cls(**dict(fields, mixins=tuple(fields.get("mixins", ())),
                          cfg_options=tuple(fields.get("cfg_options", ()))))


def annotation_files(cfg) -> list[tuple[str, Path]]:
    """(where in the config, file) of every annotation file, split manifest and evaluator ground truth the config
    reads, relative paths as the runner sees them (a dataset's ``data_root``, then the repository)."""
    found = []

    def visit(node, where: str, data_root: str = "") -> None:
        if isinstance(node, dict):
            data_root = node.get("data_root") or data_root
            for key in ("ann_file", "manifest"):
                value = node.get(key)
                if isinstance(value, str) and value:
                    joined = Path(value) if os.path.isabs(value) or "data_root" not in node else Path(data_root, value)
                    found.append((f"{where}.{key}", REPO_ROOT / joined))
            for key, value in node.items():
                if isinstance(value, (dict, list)) and key != "pipeline":
                    visit(value, f"{where}.{key}", data_root)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                visit(value, f"{where}[{i}]", data_root)

    for part in ("train_dataloader", "val_dataloader", "test_dataloader", "val_evaluator", "test_evaluator"):
        visit(cfg.get(part), part)
    return found
