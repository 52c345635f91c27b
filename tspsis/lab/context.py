"""The notebooks' ``Context``: a notebook's parameters, resolved, with ``run`` / ``run_all`` / ``measure`` bound to them."""
from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tspsis.core.paths import REPO_ROOT
from tspsis.core.stats import over_seeds
from tspsis.engine.work_dir import Run, completed_run
from tspsis.lab.coverage import COVERAGE_DIRECTION, coverage_plan, rescoring_name
from tspsis.lab.data import prepare_data
from tspsis.lab.notebooks import prepare_kernel
from tspsis.lab.profiles import Schedule, default_work_dir, get_profile, method_seeds, require_device
from tspsis.lab.registry import _method, available, unavailable_reason
from tspsis.lab.runs import Experiment, manifest_options, pretraining, print_plan, resolve, training_seconds

__all__ = ["Context", "CoreShare"]

_OURS = "Mask R-CNN + ours"
_TEACHER_PREDICTS = ("model.roi_head.test_mask_head=teacher",)  # the same checkpoint, the teacher Ft predicting


class CoreShare:
    """Threads for the CPU runs of one ``Context.run_all``: the cores split between the runs that train at once.
    A run gets ``cpu_count // min(parallel, unfinished)`` threads when it starts, ``unfinished`` counting itself and
    the runs of the call not finished yet: with 2 cores, 1 each while two train, both for a call's lone run. (The
    detector track's pre-training, alone on an idle 2-core machine: 0.23 s per iteration on 2 threads, 0.29 s on
    one; a 2-thread run beside other work collapses, 8-9 s per iteration: docs/speed.md.)"""

    def __init__(self, cpu_count: int, parallel: int, to_train: int):
        self.cpu_count, self.parallel, self.unfinished = cpu_count, parallel, to_train
        self._lock = threading.Lock()

    def threads(self) -> int:
        """Threads for a run that starts now."""
        with self._lock:
            return max(1, self.cpu_count // max(1, min(self.parallel, self.unfinished)))

    def train(self, experiment: Experiment) -> Run:
        """``experiment.train`` with ``threads()`` (a finished run: returned at once, nothing counted)."""
        if (done := completed_run(experiment.work_dir)) is not None:
            return done
        try:
            return experiment.train(threads=self.threads())
        finally:
            with self._lock:
                self.unfinished -= 1


@dataclass
class Context:
    """A notebook's parameters, resolved, with ``run`` / ``run_all`` / ``measure`` bound to them (``create``).

    On CPU (``gpus == 0``) ``run_all`` trains up to ``Schedule.parallel_runs`` runs at once, each process with
    ``cpu_count // parallel_runs`` threads (``OMP_NUM_THREADS``): the small convolutions of these models scale
    poorly over threads (on 2 loaded cores one 2-thread run measured 6.5 s per iteration, two 1-thread runs
    3.1 s each), and one run's single-threaded parts (start-up, COCO evaluation) overlap the other's training.
    What runs alone gets every core (``CoreShare``): the shared pre-training, trained before the rows that load
    it, and a call's runs when fewer remain than ``parallel_runs``.
    On GPUs, and on several nodes (``nodes``), runs go one after another. Before training, ``run_all`` prints how
    many runs it will train and about how long that takes (``estimate_seconds``).

    Seeds: ``train_seeds`` (the notebooks' ``train_seed`` parameter, one seed or a list) are the training
    seeds; ``run``/``run_all`` train the first unless a request names its own, ``measure``/``measure_each``
    train every (method, direction, seed) and report mean ± std over the seeds (``reporting.Stat``).
    """

    notebook: str
    profile: str
    data_root: Path
    work_dir: Path
    output_dir: Path
    gpus: int
    seed: int
    data: dict
    runs: dict = field(default_factory=dict)
    experiments: dict = field(default_factory=dict)  # (method, direction, seen, seed) -> its latest Experiment
    train_seeds: tuple[int, ...] = (0,)
    nodes: int = 1

    @classmethod
    def create(cls, notebook: str, profile: str, data_root: str | Path | None = None,
               work_dir: str | Path | None = None, output_dir: str | Path | None = None, gpus: int | None = None,
               seed: int = 0, train_seed: int | Iterable[int] | None = None, nodes: int = 1) -> Context:
        """Resolve a notebook's ``parameters`` cell (None = default: data/synth/<profile> or data/coco,
        work_dirs/<data profile>, papermill_runs/interactive-<profile>/<notebook>, every visible GPU or the CPU) and
        prepare the data. A profile that needs a GPU fails here, at once, when none would be used
        (``require_device``). ``seed`` seeds the synthetic data, ``train_seed`` (an int or a list; None: the
        profile's ``Schedule.train_seeds``) the trainings. ``nodes``: the machines each run trains on (``gpus``
        processes on each; every node runs the same notebook, see ``launch.resolve_nodes``).
        """
        prepare_kernel()
        gpus = require_device(profile, gpus)
        if train_seed is None:
            train_seed = get_profile(profile).schedule.train_seeds
        train_seeds = (int(train_seed),) if isinstance(train_seed, int) else tuple(int(s) for s in train_seed)
        if not train_seeds:
            raise ValueError("train_seed: give a seed or a non-empty list of seeds")
        data = prepare_data(profile, data_root, seed)
        return cls(notebook, profile, data["root"],
                   Path(work_dir or default_work_dir(profile)).resolve(),
                   Path(output_dir or REPO_ROOT / "papermill_runs" / f"interactive-{profile}" / notebook).resolve(),
                   gpus, seed, data, train_seeds=train_seeds, nodes=nodes)

    @property
    def schedule(self) -> Schedule:
        return get_profile(self.profile).schedule

    @property
    def track(self) -> str:
        """The track this notebook's runs are in (``Profile.track``)."""
        return get_profile(self.profile).track

    def trains(self, method: str, direction: str) -> bool:
        """True if this profile trains ``method`` in ``direction`` (``Schedule.methods``)."""
        methods = self.schedule.methods
        return methods is None or direction in methods.get(method, ())

    def available(self, method: str, direction: str) -> bool:
        """True if ``method`` has a config for ``direction`` and this profile trains it."""
        return self.trains(method, direction) and available(method, direction, self.profile)

    def why_not(self, method: str, direction: str) -> str:
        """Why ``available`` is False, for a table's note column."""
        reason = unavailable_reason(method, direction, self.profile)
        if reason is not None and _method(method).lacks_track(self.profile, self.track):
            return reason  # no such track for this method: why, whatever the time budget
        if not self.trains(method, direction):
            return f"not trained in the {self.profile} profile (time budget)"
        return f"not run: {reason}"

    def run(self, method: str, direction: str, seen: str | None = None, seed: int | None = None) -> Run:
        """``experiments.run`` with this notebook's profile, data, work dir and GPUs (seed: the first
        ``train_seeds`` unless given)."""
        return self.run_all([(method, direction, seen, seed)])[0]

    def run_all(self, requests: Iterable[tuple]) -> list[Run]:
        """Train (or find in the cache) every (method, direction[, seen[, seed]]) (seed None: the first
        ``train_seeds``); returns the runs in request order."""
        requests = [(m, d, seen, self.train_seeds[0] if seed is None else seed)
                    for m, d, seen, seed in ((*r, None, None)[:4] for r in requests)]
        experiments = [resolve(m, d, profile=self.profile, data_root=self.data_root, work_dir=self.work_dir,
                               gpus=self.gpus, seen=seen, seed=seed, nodes=self.nodes)
                       for m, d, seen, seed in requests]  # parsing: one thread; every call (edited code: new keys)
        self.experiments.update(zip(requests, experiments))  # what the tests of these runs start from
        parallel = self.schedule.parallel_runs if self.gpus == 0 and self.nodes == 1 else 1
        print_plan(experiments, parallel, self.profile, self.work_dir)
        if self.gpus == 0:
            to_train = [e for e in experiments if completed_run(e.work_dir) is None]
            cores = CoreShare(os.cpu_count() or 1, parallel, len(to_train))
            for pretrained in {e.pretrained.work_dir: e.pretrained for e in to_train if e.pretrained}.values():
                pretrained.train(threads=cores.cpu_count)  # alone, before every row that loads it: every core
            train = cores.train
        else:
            train = Experiment.train
        with ThreadPoolExecutor(parallel) as pool:
            results = list(pool.map(train, experiments))
        for (method, direction, seen, seed), result in zip(requests, results):
            self.runs[" | ".join(filter(None, (method, direction, seen and f"seen {seen}", f"seed {seed}")))] = result
        return results

    def measure_each(self, requests: Iterable[tuple], record: str = "unseen", iou_type: str = "segm",
                     seeds: Iterable[int] | None = None) -> dict[tuple, dict]:
        """Train every (method, direction[, seen]) once per seed (all of them through one ``run_all``) and
        return {request: ``metrics[iou_type][record]`` over the seeds (``reporting.over_seeds``: numbers become
        ``reporting.Stat``, mean ± std and n)}. seeds: None = ``seeds_of(method)``."""
        requests = [tuple(r) for r in requests]
        per_request = [self.seeds_of(r[0]) if seeds is None else tuple(seeds) for r in requests]
        runs = iter(self.run_all([(*(*r, None)[:3], seed) for r, rs in zip(requests, per_request) for seed in rs]))
        return {r: over_seeds([next(runs).metrics[iou_type][record] for _ in rs], rs)
                for r, rs in zip(requests, per_request)}

    def test_with(self, method: str, direction: str, cfg_options: Sequence[str], name: str,
                  record: str | None = "unseen", iou_type: str = "segm", given_boxes: bool = False) -> dict:
        """Test the trained runs of ``method`` (one per ``seeds_of(method)``) again with ``cfg_options`` (e.g.
        ``model.roi_head.test_mask_head=teacher``: the same checkpoint, the teacher predicts) and, with
        ``given_boxes``, their masks on the val images' ground-truth boxes (``tspsis.apis.on_given_boxes``); the
        results go to each run's ``test-<name>.metrics.json`` (cached: a finished test is read back) and come back as
        ``metrics[iou_type][record]`` (``record`` None: ``metrics[iou_type]``) over the seeds."""
        seeds = self.seeds_of(method)
        self.run_all([(method, direction, None, seed) for seed in seeds])  # trained first where not cached
        tested = [self.experiments[method, direction, None, seed].test(cfg_options, name, given_boxes)
                  .metrics[iou_type] for seed in seeds]
        return over_seeds([t if record is None else t[record] for t in tested], seeds)

    def measure_on_given_boxes(self, methods: Iterable[str], directions: Iterable[str]
                               ) -> dict[str, dict[str, dict]]:
        """The detector track's trained rows again, each checkpoint's masks on the val images' ground-truth boxes
        (test ``given-boxes``): what the mask heads learned, apart from what the detector finds. Every ``methods``
        this profile trains that has a box-conditioned track (not BoxInst: no mask head of a given box), and
        "Mask R-CNN + ours: its teacher Ft" (the same checkpoints, ``test_mask_head='teacher'``) after "Mask R-CNN +
        ours". Returns {direction: {row: metrics["segm"] over the seeds}} (``["unseen"]["AP"]``,
        ``["mask_iou"]["unseen"]["mIoU"]`` ...); empty in the box-conditioned track, where that is the test."""
        if self.track != "detector":
            return {}
        measured: dict[str, dict[str, dict]] = {}
        for direction in directions:
            rows = measured.setdefault(direction, {})
            for method in methods:
                if not self.available(method, direction) or "box_conditioned" not in _method(method).tracks:
                    continue
                rows[method] = self.test_with(method, direction, (), "given-boxes", None, given_boxes=True)
                if method == _OURS:
                    rows[f"{_OURS}: its teacher Ft"] = self.test_with(method, direction, _TEACHER_PREDICTS,
                                                                      "given-boxes-teacher", None, given_boxes=True)
        return measured

    def _detector_pretraining(self) -> Experiment | None:
        """The profile's shared pre-training if it is a detector (the detector track with a pre-training); None
        otherwise. Resolved, not trained."""
        if self.schedule.pretrain_iters is None or self.track != "detector":
            return None
        return pretraining(self.profile, self.data_root, gpus=self.gpus, track=self.track, nodes=self.nodes)

    def shared_detector(self) -> Run | None:
        """The profile's shared pre-training if it is a detector with a test pass (the detector track: its
        ``metrics["bbox"]`` box AP on the val images), trained first if it is not cached; None otherwise."""
        detector = self._detector_pretraining()
        return None if detector is None else detector.train()

    def shared_detector_start(self) -> str | None:
        """What the shared detector started from, for its caption: the box track's pre-training
        (``Schedule.detector_init_iters``) with its iterations and minutes of training; None for random weights."""
        detector = self._detector_pretraining()
        if detector is None or detector.pretrained is None:
            return None
        seconds = training_seconds(detector.pretrained.train())
        return (f"the box track's box-classification pre-training ({detector.pretrained.max_iters} iterations"
                + (f", {seconds / 60:.1f} min" if seconds else "") + ")")

    def measure_coverage(self) -> dict[str, dict[str, dict]]:
        """The coverage study of the profile (``tspsis.lab.coverage.coverage_plan``): train every (method, split,
        seed) it needs (one ``run_all``), test the Oracle's checkpoints with each other split's manifest, and
        return {spec: {method: the run's metrics over the seeds}} (``["segm"]["unseen"]["AP"]``,
        ``["segm"]["mask_iou"]["unseen"]["mIoU"]``, ``["training"]["teacher_fg_ratio"]["mean"]`` ...)."""
        plan = coverage_plan(self.profile, self.data_root, self.work_dir, self.gpus, self.train_seeds, self.nodes)
        runs = dict(zip(plan.trainings, self.run_all(plan.trainings)))
        source = self.data["train_ann"].name
        measured: dict[str, dict[str, dict]] = {spec: {} for spec in plan.specs}
        for (method, spec), cells in plan.cells.items():
            records = []
            for cell in cells:
                run = runs[cell.training]
                if cell.rescored_with is not None:  # the same checkpoint scored with another split's manifest
                    experiment = self.experiments[cell.training]
                    run = experiment.test(manifest_options(experiment.request.cfg, COVERAGE_DIRECTION,
                                                           cell.rescored_with, source),
                                          rescoring_name(cell.rescored_with))
                records.append({k: v for k, v in run.metrics.items() if k != "run"})
            measured[spec][method] = over_seeds(records, [cell.seed for cell in cells])
        return measured

    def seeds_of(self, method: str) -> tuple[int, ...]:
        """The training seeds ``measure`` uses for ``method`` (``tspsis.lab.profiles.method_seeds``: every
        ``train_seeds`` for the profile's ``seeded_methods``, the first one for the others)."""
        return method_seeds(self.profile, method, self.train_seeds)

    def measure(self, methods: Iterable[str], directions: Iterable[str], record: str = "unseen",
                iou_type: str = "segm", seeds: Iterable[int] | None = None
                ) -> tuple[dict[str, dict[str, dict]], dict[str, dict[str, str]]]:
        """Train/test every available (method, direction) once per training seed (None: ``train_seeds``) and
        pick ``metrics[iou_type][record]`` over the seeds (``measure_each``).

        Returns ({direction: {method: record}}, {direction: {method: note}}) where a note says why a method was
        not run in that direction (no config in this repository, or not trained in this profile)."""
        methods, directions = list(methods), list(directions)
        todo = [(m, d) for d in directions for m in methods if self.available(m, d)]
        records = self.measure_each(todo, record, iou_type, seeds)
        measured = {d: {m: records[m, d] for m in methods if (m, d) in records} for d in directions}
        notes = {d: {m: self.why_not(m, d) for m in methods if (m, d) not in records} for d in directions}
        return measured, notes

    def summary(self) -> dict:
        """Every run this notebook used: folder, seed, iterations and measured training time (for metrics.json)."""
        out = {}
        for name, result in self.runs.items():
            meta = result.metrics.get("run", {})
            out[name] = {"work_dir": str(result.work_dir), "seed": meta.get("seed"), "iters": meta.get("iters"),
                         "iter_time_median_s": meta.get("iter_time_median"),
                         "train_seconds": training_seconds(result)}
        return out
