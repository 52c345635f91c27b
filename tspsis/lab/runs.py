"""The paper's experiments as cached training runs: resolve a row of the registry for a profile into a run (config,
options, key, folder), train it once, share it.

A notebook asks for a (method, direction) pair and gets a finished :class:`tspsis.engine.work_dir.Run`::

    data = lab.prepare_data("demo", "data/synth/demo")
    run = lab.run("Mask R-CNN + ours", "voc2nonvoc", profile="demo", data_root=data["root"],
                  work_dir="work_dirs/demo")
    run.metrics["segm"]["unseen"]["AP"]

Cache: a run lives in ``WORK_DIR/<config stem>[+<mixin stem>...][+<N>it][-seen-<spec>]-<key>`` (what trains:
``tspsis.engine.request.RunRequest.name``; ``+<N>it`` when the profile rescales the schedule to N iterations); the
key hashes the *resolved* config (``tspsis.engine.request.RunRequest.cfg``, the mixins merged in, so editing any
``_base_`` or mixin file changes it, and so does the training seed, ``randomness.seed``), the data root, the size
and modification time of its source annotation files (regenerated data is new data), ``max_iters``, the seen split, the number of
processes (over every node) and a digest of the Python code the training process runs (``tspsis.lab.digest``:
every tspsis module that ``python -m tspsis.engine.runner`` can import; not the notebooks, tables or figures).
Several notebooks asking for the same run share one training; a finished run is not trained again
(``tspsis.engine.launch.train`` skips it) and an interrupted one resumes; editing the model code gives new keys, so new runs.
``force=True`` retrains a run in place.

Seeds: ``seed=`` of ``resolve``/``run`` (and ``Context.measure(seeds=...)``) is the training seed; each
(method, direction, seed) is its own cached run, and ``Context.measure`` reports mean ± std over the seeds
(``tspsis.core.stats.Stat``).

Devices: a profile with ``Profile.needs_gpu`` (``full``, ``coco``) needs a GPU; ``require_device`` says so at once,
before any data is generated. ``nodes`` > 1 trains and tests on several machines (``launch.resolve_nodes``: each
runs the same notebook, its node rank and node 0's address in ``$NODE_RANK`` / ``$MASTER_ADDR``), one run at a time.

Which config a row runs: ``tspsis.lab.registry``; what a profile runs: ``tspsis.lab.profiles``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tspsis.apis import on_given_boxes
from tspsis.core.io import write_json_atomic
from tspsis.core.splits import COVERAGE_SPECS, SEEN_SPEC_PATTERN
from tspsis.engine.config import compose
from tspsis.engine.launch import test, train
from tspsis.engine.request import RunRequest
from tspsis.engine.work_dir import REQUEST_FILE, Run, completed_run, metrics_file_of_test
from tspsis.lab import digest, registry
from tspsis.lab.data import SEEN_OF, ensure_split
from tspsis.lab.profiles import PROFILES, estimate_seconds, get_profile, source_names
from tspsis.lab.records import EXPERIMENT_FILE
from tspsis.lab.registry import _PRETRAIN_DIRECTION, PRETRAINING, ConfigSpec, _method, config

__all__ = ["Experiment", "manifest_options", "pretraining", "print_plan", "resolve", "run", "training_seconds",
           "trains_on_every_mask"]


@dataclass(frozen=True)
class Experiment:
    """A resolved run: a row of the registry (method, direction, profile, track, seen split) as a ``RunRequest``
    (what ``train`` composes: config, mixins, options, data root, iterations, training seed, key) and where it
    trains (see the module docstring for the key)."""

    method: str
    direction: str
    profile: str
    request: RunRequest
    work_dir: Path
    seen: str | None
    gpus: int
    track: str = "detector"
    code: str = ""  # code_digest() of the key
    nodes: int = 1  # machines, gpus processes on each (launch.train)
    pretrained: Experiment | None = None  # the shared pre-training this run starts from (its checkpoint)

    config = property(lambda self: self.request.config, doc="the leaf config file")
    mixins = property(lambda self: self.request.mixins, doc="merged over ``config`` in order (ConfigSpec)")
    cfg_options = property(lambda self: self.request.cfg_options)
    data_root = property(lambda self: self.request.data_root)
    max_iters = property(lambda self: self.request.max_iters)
    seed = property(lambda self: self.request.seed, doc="the training seed (randomness.seed)")
    key = property(lambda self: self.request.key)

    @property
    def final_checkpoint(self) -> Path:
        """The checkpoint the run ends with (iteration schedules: ``iter_<max_iters>.pth``)."""
        if self.max_iters is None:
            raise ValueError(f"{self.work_dir.name}: the final checkpoint of a run without max_iters is not known "
                             "before it runs")
        return self.work_dir / f"iter_{self.max_iters}.pth"

    def train(self, force: bool = False, threads: int | None = None) -> Run:
        """Write the seen split if needed and ``experiment.json``, then ``launch.train`` (after the shared
        pre-training it starts from, once, if not done yet) with ``threads`` per process (None: this process's
        ``OMP_NUM_THREADS``). A finished run is returned at once, silently (``Context.run_all``'s plan line counts
        the cached runs)."""
        if not force and (done := completed_run(self.work_dir)) is not None:
            return done
        if self.pretrained is not None:
            with _PRETRAINING_LOCK:  # parallel runs of run_all share one pre-training
                self.pretrained.train(threads=threads)
        if self.seen is not None:
            ensure_split(self.data_root / "annotations", source_names(self.profile)[0], self.seen)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # what the lab adds to the request (request.json, written by launch.train: config, options, seed, key ...)
        write_json_atomic(self.work_dir / EXPERIMENT_FILE, {
            "method": self.method, "direction": self.direction, "profile": self.profile, "track": self.track,
            "seen": self.seen, "gpus": self.gpus, "nodes": self.nodes, "code_digest": self.code,
            "pretrained": self.pretrained and str(self.pretrained.final_checkpoint), "request": REQUEST_FILE},
            indent=1)
        return train(self.request, self.work_dir, gpus=self.gpus, force=force, nodes=self.nodes, threads=threads)

    def test(self, cfg_options: Iterable[str], name: str, given_boxes: bool = False) -> Run:
        """The test ``name`` of this finished training's checkpoint with ``cfg_options`` (e.g.
        ``model.roi_head.test_mask_head=teacher``) and, with ``given_boxes``, its masks on the val images'
        ground-truth boxes (``tspsis.apis.on_given_boxes``): read back if finished (``test-<name>.metrics.json`` in
        the run's folder), else run (``launch.test``)."""
        trained = completed_run(self.work_dir)
        if trained is None:
            raise RuntimeError(f"{self.work_dir}: no finished training to test")
        if (finished := completed_run(self.work_dir, metrics_file_of_test(name))) is not None:
            return finished
        request = self.request.test_of(list(cfg_options))
        return test(on_given_boxes(request) if given_boxes else request, trained.checkpoint, self.work_dir,
                    gpus=self.gpus, name=name, nodes=self.nodes)


def _renamed_split(path: str, old: str, new: str, source: str) -> str:
    """annotations/train_voc.json -> annotations/train_first-6.json (also for .manifest.json)."""
    old_part, new_part = f"{Path(source).stem}_{old}.", f"{Path(source).stem}_{new}."
    if old_part not in path:
        raise ValueError(f"cannot change the seen split of {path!r}: expected a file named like "
                         f"'{old_part}json' / '{old_part}manifest.json'")
    return path.replace(old_part, new_part)


def _seen_options(cfg, direction: str, seen: str, source: str) -> list[str]:
    """cfg_options that train and score on the split ``seen`` instead of the direction's own: the training file
    (only where the config trains on a partial split; the oracle trains on every mask) and the manifests."""
    options = []
    if not _trains_on(cfg, source):
        renamed = _renamed_split(cfg.train_dataloader.dataset.ann_file, SEEN_OF[direction], seen, source)
        options.append(f"train_dataloader.dataset.ann_file={renamed}")
    return options + manifest_options(cfg, direction, seen, source)


def _trains_on(cfg, source: str) -> bool:
    """True if ``cfg`` trains on the full annotation file ``source`` (every mask), not on a partial split."""
    return Path(cfg.train_dataloader.dataset.ann_file).name == source


def manifest_options(cfg, direction: str, seen: str, source: str) -> list[str]:
    """cfg_options that score with the manifest of the split ``seen`` instead of the direction's own (the evaluators'
    ``manifest``): a test of a checkpoint on another split's unseen categories."""
    old = SEEN_OF[direction]
    return [f"{key}.manifest={_renamed_split(cfg[key].manifest, old, seen, source)}"
            for key in ("val_evaluator", "test_evaluator") if cfg.get(key) is not None]


def trains_on_every_mask(experiment: Experiment) -> bool:
    """True if the run trains on the full annotation file (the Oracle): its training does not depend on the seen
    split, only its scoring does (``manifest_options``)."""
    return _trains_on(experiment.request.cfg, source_names(experiment.profile)[0])


def _data_fingerprint(data_root: Path, profile: str) -> list:
    """[name, size, mtime_ns] of the source annotation files: a regenerated dataset gets new keys."""
    files = [data_root / "annotations" / name for name in source_names(profile)]
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] if f.is_file() else [f.name, None, None] for f in files]


def resolve(method: str, direction: str, *, profile: str, data_root: str | Path, work_dir: str | Path,
            gpus: int = 0, seen: str | None = None, max_iters: int | None | str = "profile",
            cfg_options: Iterable[str] = (), track: str | None = None, seed: int = 0, nodes: int = 1,
            mixins: Iterable[str | Path] = (), init_from: str | Path | Experiment | None = None) -> Experiment:
    """Resolve a run without training it: config and mixins, options, cache key and run folder.

    seen: None (the direction's own split) or ``voc`` / ``nonvoc`` / ``first-K`` / a coverage spec
    (``tspsis.core.splits.COVERAGE_SPECS``): train and score with that seen set (Fig. 8), through
    ``train_dataloader.dataset.ann_file`` and the evaluators' ``manifest``.
    max_iters: "profile" (``Profile.schedule.max_iters``), None (the config's schedule) or a number.
    track: ``detector`` or ``box_conditioned`` (None: ``Profile.track``).
    seed: the training seed (``randomness.seed`` of the resolved config, so part of the key).
    gpus: the number of processes, resolved (0 = CPU; see ``launch.resolve_gpus``), on each of ``nodes`` machines.
    mixins: config files (paths under configs/, or absolute) merged after the row's own: a variant of your own.
    init_from: weights the row starts from instead of the profile's shared pre-training (e.g. the other track's), or
    that a pre-training starts from: a checkpoint, or a resolved run (its final checkpoint; ``train`` trains it
    first). Like every option, it is part of the config and so of the key.
    """
    track = PROFILES[profile].track if track is None and profile in PROFILES else track
    spec = config(method, direction, profile, track)
    spec = ConfigSpec(spec.leaf, (*spec.mixins, *(registry.CONFIGS / m for m in mixins)))
    if missing := spec.missing():
        raise FileNotFoundError(f"{missing[0]}: no config for method {method!r} ({direction}, profile {profile}, "
                                f"{track} track)")
    if seen is not None and not SEEN_SPEC_PATTERN.fullmatch(seen):
        raise ValueError(f"seen must be 'voc', 'nonvoc', 'first-K' or one of {', '.join(COVERAGE_SPECS)}, "
                         f"got {seen!r}")
    if seen == SEEN_OF[direction]:
        seen = None  # the direction's own split: the same run as without `seen`
    schedule = PROFILES[profile].schedule
    iters = schedule.max_iters if max_iters == "profile" else max_iters
    untrained = track in _method(method).untrained_tracks
    if untrained:
        iters = 1  # nothing to learn (e.g. GrabCut on given boxes): one iteration, then the test pass
    data_root = Path(data_root).resolve()
    options = [*schedule.cfg_options, *cfg_options]
    starts_pretrained = schedule.pretrain_iters is not None and method != PRETRAINING.label and not untrained
    if init_from is not None and not (starts_pretrained or method == PRETRAINING.label):
        raise ValueError(f"init_from: {method} ({profile} profile, {track} track) does not start from a shared "
                         "pre-training, so there is none to replace")
    pretrained = init_from if isinstance(init_from, Experiment) else None  # trained before this run
    if init_from is None and starts_pretrained:
        pretrained = pretraining(profile, data_root, gpus=gpus, track=track, nodes=nodes)
    if pretrained is not None or init_from is not None:
        checkpoint = pretrained.final_checkpoint if pretrained is not None else Path(init_from).resolve()
        # the detector's init_cfg loads after every module's own initialisation (mmengine BaseModule.init_weights),
        # non-strictly: what the pre-training has not (mask heads, OPMask's conv box head) keeps its own init
        # ('+': keys the detector accepts but the configs do not set; tspsis.engine.config.checked_options)
        options += ["+model.init_cfg.type=Pretrained", f"+model.init_cfg.checkpoint={checkpoint}"]
    request = RunRequest(spec.leaf, spec.mixins, tuple(options), data_root, iters, seed,
                         composition=compose(spec.leaf, spec.mixins))  # this run's one parse in this process
    if seen is not None:  # train and score on another split: its files in place of the direction's own
        seen_options = _seen_options(request.cfg, direction, seen, source_names(profile)[0])
        request = dataclasses.replace(request, cfg_options=(*request.cfg_options, *seen_options))
    code = digest.code_digest()
    material = json.dumps({"config": request.cfg.to_dict(), "data_root": str(data_root), "max_iters": iters,
                           "seen": seen, "processes": max(gpus, 1) * nodes, "code": code,
                           "data": _data_fingerprint(data_root, profile)}, sort_keys=True, default=str)
    key = hashlib.sha256(material.encode()).hexdigest()[:10]
    request = dataclasses.replace(request, key=key)
    name = request.name + (f"-seen-{seen}" if seen else "") + f"-{key}"
    return Experiment(method, direction, profile, request, Path(work_dir).resolve() / name, seen, gpus, track,
                      code=code, nodes=nodes, pretrained=pretrained)


_PRETRAINING_LOCK = threading.RLock()  # reentrant: a pre-training may start from another


def pretraining(profile: str, data_root: str | Path, gpus: int = 0, track: str | None = None,
                nodes: int = 1) -> Experiment:
    """The shared pre-training of ``profile`` on ``data_root`` (``PRETRAINING``, ``Schedule.pretrain_iters``
    iterations, training seed 0): a cached run in ``DATA_ROOT/pretrained/``, next to the splits it was made from.
    ``.train()`` trains it (once); ``.final_checkpoint`` is what every row of the profile loads."""
    if get_profile(profile).schedule.pretrain_iters is None:
        raise ValueError(f"the {profile} profile has no shared pre-training (Schedule.pretrain_iters is None)")
    data_root = Path(data_root).resolve()
    # resolving parses the configs; the arguments of the cached call include what the key depends on
    return _pretraining(profile, data_root, gpus, track, nodes, digest.code_digest(),
                        json.dumps(_data_fingerprint(data_root, profile)))


@lru_cache(maxsize=None)
def _pretraining(profile: str, data_root: Path, gpus: int, track: str | None, nodes: int, code: str,
                 data: str) -> Experiment:
    schedule = PROFILES[profile].schedule
    track = PROFILES[profile].track if track is None else track
    start = None  # the detector track's pre-training may start from the box track's (Schedule.detector_init_iters)
    if track == "detector" and schedule.detector_init_iters is not None:
        start = resolve(PRETRAINING.label, _PRETRAIN_DIRECTION, profile=profile, data_root=data_root,
                        work_dir=data_root / "pretrained", gpus=gpus, max_iters=schedule.detector_init_iters,
                        track="box_conditioned", nodes=nodes)
    return resolve(PRETRAINING.label, _PRETRAIN_DIRECTION, profile=profile, data_root=data_root,
                   work_dir=data_root / "pretrained", gpus=gpus, max_iters=schedule.pretrain_iters,
                   track=track, nodes=nodes, init_from=start)


def run(method: str, direction: str, *, profile: str, data_root: str | Path, work_dir: str | Path,
        gpus: int = 0, seen: str | None = None, max_iters: int | None | str = "profile",
        cfg_options: Iterable[str] = (), force: bool = False, track: str | None = None, seed: int = 0,
        nodes: int = 1) -> Run:
    """Train and test one row of the paper (cached, see the module docstring) and return the finished run.

    method: a ``METHODS`` label; direction: ``voc2nonvoc`` or ``nonvoc2voc``; profile: tiny / demo / full / coco;
    gpus: 0 = CPU, 1 = one process, N > 1 = torchrun with N processes (on each of ``nodes`` machines); track:
    ``detector`` / ``box_conditioned`` (None: ``Profile.track``). Other arguments as in ``resolve``.
    A ``seen`` split is written first if it does not exist. ``run.metrics`` holds the nested
    ``tspsis.eval`` output ("segm"/"bbox" -> "unseen"/"seen"/"all"/overlap subsets) plus "run" meta.
    """
    return resolve(method, direction, profile=profile, data_root=data_root, work_dir=work_dir, gpus=gpus, seen=seen,
                   max_iters=max_iters, cfg_options=cfg_options, track=track, seed=seed, nodes=nodes).train(force)


def training_seconds(run: Run) -> float | None:
    """Measured training time of a run: median seconds per iteration x iterations (Table 5's time column);
    None if the run has no timing (a test-only run)."""
    meta = run.metrics.get("run", {})
    if meta.get("iter_time_median") is None:
        return None
    return float(meta["iter_time_median"]) * int(meta["iters"])


def print_plan(experiments: list[Experiment], parallel: int, profile: str, work_dir: Path | None = None) -> None:
    """Before training: one line with how many of ``experiments`` must train (the others are cached), how many
    at a time, and about how long (``estimate_seconds``); or that every run is cached."""
    runs = len({e.work_dir for e in experiments})
    todo = len({e.work_dir for e in experiments if completed_run(e.work_dir) is None})
    if not todo:
        if runs:
            print(f"{runs} run{'s' if runs > 1 else ''}, all cached", flush=True)
        return
    seconds, basis = estimate_seconds(profile, work_dir)
    cached = runs - todo
    if seconds is None:
        guess = f"no estimate ({basis})"
    else:
        total = seconds * -(-todo // parallel)  # rounds of `parallel` runs
        guess = f"about {total / 60:.1f} min ({seconds:.0f} s per run: {basis})"
    print(f"training {todo} run{'s' if todo > 1 else ''} ({cached} cached), {parallel} at a time: {guess}",
          flush=True)
