"""Config composition: a run's config is its leaf config file, mixins merged over it in order, then options, data
root, schedule length and seed (``load_config``). The one place configs are parsed and run names are made.

Two steps, so that a run is parsed once however often it is resolved (``tspsis.engine.request.RunRequest``):
``compose`` reads the files (leaf + mixins: mmengine's ``Config.fromfile``, the slow and lock-guarded part);
``finish`` turns a copy of that composition into the run's resolved config without reading a file.

Mixins are config files merged over the leaf (``merge_mixin``): a variant, a track or a hardware sizing that would
otherwise be a copy of the config (docs/configs.md, "Configs"). Every run is seeded: a config without ``randomness`` gets
``randomness = dict(seed=DEFAULT_SEED)`` (mmengine would draw a new seed every run).
"""
from __future__ import annotations

import argparse
import copy
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_SEED = 0  # randomness.seed of a config that sets none (mmengine would draw a new one every run)


class ConfigError(ValueError):
    """A config, mixin or option the user gave cannot be used; the message names the file or key."""


def replace_data_root(node: Any, old: str, new: str) -> Any:
    """Every string under ``node`` that starts with ``old`` now starts with ``new`` (paths of dataloaders
    and evaluators are built from ``data_root`` when the config is parsed, so changing the variable alone
    would not reach them)."""
    if isinstance(node, str):
        return new + node[len(old):] if node.startswith(old) else node
    if isinstance(node, dict):
        return {k: replace_data_root(v, old, new) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(replace_data_root(v, old, new) for v in node)
    return node


def scale_schedule(cfg, max_iters: int) -> None:
    """Shorten or lengthen an iteration-based schedule to ``max_iters``, keeping its shape: warm-up and lr
    steps at the same fractions of the run (the paper's steps at 8/12 and 11/12, Sec. 5.1), one validation at
    the end, checkpoints every sixth of the run (what a killed run resumes from)."""
    if cfg.train_cfg.get("type") != "IterBasedTrainLoop":
        raise ValueError(f"--max-iters needs an iteration-based schedule; train_cfg.type is {cfg.train_cfg.get('type')}")
    old = cfg.train_cfg.max_iters

    def rescale(it: int) -> int:
        return max(1, round(it * max_iters / old))

    for scheduler in cfg.param_scheduler:
        if "milestones" in scheduler:
            scheduler.milestones = [rescale(m) for m in scheduler.milestones]
        scheduler.end = max_iters if scheduler.get("end", old) >= old else rescale(scheduler.end)
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = max_iters
    cfg.default_hooks.checkpoint.interval = max(1, max_iters // 6)
    _rescale_warmups(cfg.model, rescale)


def _rescale_warmups(node: Any, rescale) -> None:
    """Warm-ups inside the model (BoxInst's pairwise-loss warm-up, the pseudo-label warm-up) follow the schedule."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "warmup_iters" and isinstance(value, int) and value > 0:
                node[key] = rescale(value)
            else:
                _rescale_warmups(value, rescale)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _rescale_warmups(value, rescale)


def _without_orphan_deletes(new: Any, old: Any) -> Any:
    """``new`` without the ``_delete_`` keys of dicts that have nothing to delete in ``old`` (mmengine leaves those
    in place when the key is new; where the key exists, the merge itself consumes ``_delete_``), and without the
    settings of parts ``old`` has removed (a key set to None, e.g. Mask GrabCut's mask head): a sizing mixin does
    not bring back a head the model does not have (``_delete_=True`` still replaces the None)."""
    if not isinstance(new, dict):
        return new
    if not isinstance(old, dict):
        return {k: _without_orphan_deletes(v, None) for k, v in new.items() if k != "_delete_"}
    return {k: _without_orphan_deletes(v, old.get(k)) for k, v in new.items()
            if not (isinstance(v, dict) and k in old and old[k] is None and not v.get("_delete_"))}


def composed_name(config: str | Path, mixins: Sequence[str | Path] = (), max_iters: int | None = None) -> str:
    """What a run trains, as one name: the leaf config's stem, then each mixin's stem in merge order, then
    ``<N>it`` when ``--max-iters N`` rescales the schedule, joined by ``+``; e.g.
    ``ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc+box-conditioned+box-cpu_1xb16+warmup-half+logits-lr+500it``.
    The one place such names are made: the run folder (``tspsis.lab.runs``), the resolved config the runner
    dumps (``WORK_DIR/<name>.py``) and the models of the configs' metafiles."""
    parts = [Path(config).stem, *(Path(m).stem for m in mixins)]
    return "+".join(parts if max_iters is None else [*parts, f"{int(max_iters)}it"])


def merge_mixin(cfg, mixin: str | Path) -> None:
    """Merge the config file ``mixin`` over ``cfg`` in place: mmengine's ``_base_`` semantics (dicts merge key by
    key, ``_delete_=True`` replaces a dict, any other value, lists included, replaces), as if its content were
    written at the end of the config. The mixin is parsed on its own (it may have a ``_base_`` of its own, and
    may not read the config's variables)."""
    content = _read_config(mixin, "mixin").to_dict()
    content.pop("_base_", None)
    cfg.merge_from_dict(_without_orphan_deletes(content, cfg.to_dict()), allow_list_keys=False)


def _stale_data_root(cfg) -> str | None:
    """The root the training dataset's paths were built from, if it is not the config's ``data_root`` variable.

    The dataset bases build every path (dataloaders, evaluators) from ``data_root`` when they are parsed, so a
    child config that sets ``data_root = 'elsewhere/'`` alone would leave them pointing at the old root (the trap
    of mmengine's variables); ``load_config`` moves them."""
    dataset = (cfg.get("train_dataloader") or {}).get("dataset") or {}
    built_from = dataset.get("data_root")
    if "data_root" not in cfg or not isinstance(built_from, str) or built_from == cfg.data_root:
        return None
    return built_from


_CONFIG_LOCK = threading.Lock()  # mmengine's parsing is not thread-safe (pkg_resources resolving `mmdet::` bases),
# and tspsis.lab.context.Context.run_all resolves and trains runs from threads


def _read_config(path: str | Path, what: str):
    """``Config.fromfile`` of a config or mixin file; a missing or unreadable file is one ``ConfigError``."""
    from mmengine.config import Config

    if not Path(path).is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        with _CONFIG_LOCK:
            return Config.fromfile(str(path))
    except (SyntaxError, ImportError, NameError, OSError, KeyError) as err:
        # mmengine parses and executes the file: its message names the problem, the first line is enough
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{path}: cannot read this {what} ({type(err).__name__}: {detail})") from err


def _key_paths(node: Any, prefix: str = "") -> list[str]:
    """Every dotted key path of the nested dicts ``node`` (lists are leaves)."""
    paths = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}{key}"
            paths += [path, *_key_paths(value, path + ".")]
    return paths


def _has_key(node: Any, parts: list[str]) -> bool:
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]  # mmengine's DictAction: a list element by index
        else:
            return False
    return True


def checked_options(cfg, cfg_options: list[str]) -> list[str]:
    """``cfg_options`` with the ``+`` of new keys dropped, after checking that every other key path exists in
    ``cfg``: a typo (``randomnes.seed=3``, ``train_cfg.max_iter=10``) is a ``ConfigError`` that names the nearest
    existing key. ``+KEY=VALUE`` adds a key the config does not have (a component's optional argument)."""
    import difflib

    resolved, plain = cfg.to_dict(), []
    for option in cfg_options:
        key, equals, value = option.partition("=")
        if not equals or not key.lstrip("+"):
            raise ConfigError(f"--cfg-options {option!r}: expected KEY=VALUE")
        if key.startswith("+"):
            key = key[1:]
        elif not _has_key(resolved, key.split(".")):
            near = difflib.get_close_matches(key, _key_paths(resolved), n=1, cutoff=0.6)
            hint = f"did you mean {near[0]}? " if near else ""
            raise ConfigError(f"--cfg-options {key}: no such key in the resolved config; {hint}"
                              f"(a new key needs a '+' prefix: +{key}={value})")
        plain.append(f"{key}={value}")
    return plain


def compose(config: str | Path, mixins: Iterable[str | Path] = ()):
    """``config`` parsed, then each of ``mixins`` merged over it in order (``merge_mixin``): the part of a run's
    config that comes from files. A missing or unreadable file is a ``ConfigError`` / ``FileNotFoundError``."""
    cfg = _read_config(config, "config")
    for mixin in mixins:
        merge_mixin(cfg, mixin)
    return cfg


def finish(composition, work_dir: str, cfg_options: Sequence[str] = (), data_root: str | Path | None = None,
           max_iters: int | None = None, seed: int | None = None):
    """The resolved config of a run from a ``compose`` result (left as it is: the work is done on a copy):
    ``cfg_options`` (mmengine ``--cfg-options`` syntax, keys checked by ``checked_options``), paths moved to
    ``data_root``, the schedule rescaled to ``max_iters``, ``randomness.seed`` set to ``seed`` (or to
    ``DEFAULT_SEED`` when neither the config nor the options set one) and ``work_dir``. Reads no file."""
    from mmengine.config import DictAction

    cfg = copy.deepcopy(composition)
    if (cfg.get("randomness") or {}).get("seed") is None:  # before the options, so that they may set it
        cfg.randomness = dict(cfg.get("randomness") or {}, seed=DEFAULT_SEED)
    if cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument("--o", nargs="+", action=DictAction)
        cfg.merge_from_dict(parser.parse_args(["--o", *checked_options(cfg, list(cfg_options))]).o)
    built_from = _stale_data_root(cfg)
    if built_from is not None:  # a child changed `data_root` alone: move the paths the bases built from the old one
        cfg.merge_from_dict(replace_data_root(cfg.to_dict(), built_from, cfg.data_root), allow_list_keys=True)
    if data_root is not None:
        if "data_root" not in cfg:
            raise ValueError(f"{cfg.filename}: --data-root given but the config defines no `data_root` variable")
        new_root = str(data_root).rstrip("/") + "/"
        cfg.merge_from_dict(replace_data_root(cfg.to_dict(), cfg.data_root, new_root), allow_list_keys=True)
    if max_iters is not None:
        scale_schedule(cfg, max_iters)
    if seed is not None:
        cfg.randomness = dict(cfg.randomness, seed=int(seed))
    cfg.work_dir = str(work_dir)
    return cfg


def load_config(config: str | Path, work_dir: str, cfg_options: Sequence[str] = (),
                data_root: str | Path | None = None, max_iters: int | None = None,
                mixins: Iterable[str | Path] = (), seed: int | None = None):
    """The resolved config of a run in one call: ``finish(compose(config, mixins), ...)``."""
    return finish(compose(config, mixins), work_dir, cfg_options, data_root, max_iters, seed)
