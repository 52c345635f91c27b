"""The paper's experiments as cached training runs: a method registry, per-profile schedules, data preparation.

A notebook asks for a (method, direction) pair and gets a finished :class:`tspsis.launch.Run`::

    data = experiments.prepare_data("demo", "data/synth/demo")
    run = experiments.run("Mask R-CNN + ours", "voc2nonvoc", profile="demo", data_root=data["root"],
                          work_dir="work_dirs/demo")
    run.metrics["segm"]["unseen"]["AP"]

Cache: a run lives in ``WORK_DIR/<config stem>[+<mixin stem>...][+<N>it][-seen-<spec>]-<key>`` (what trains:
``tspsis.runner.composed_name``; ``+<N>it`` when the profile rescales the schedule to N iterations); the key hashes
the *resolved* config (``tspsis.runner.load_config``, the mixins merged in, so editing any ``_base_`` or mixin file
changes it, and so does the training seed, ``randomness.seed``), the data root, the size and modification time
of its source annotation files (regenerated data is new data), ``max_iters``, the seen split, the number of
processes (over every node) and a digest of the Python code the training process runs (``code_digest``: every
tspsis module that ``python -m tspsis.runner`` can import, found by following the imports of tspsis.runner and
tspsis.models: the heads, losses, pseudo masks, CAMs, data loading, the metric and the evaluation; not the
notebooks, tables or figures). Several notebooks asking for the same run share one training; a finished run is
not trained again (``launch.train`` skips it) and an interrupted one resumes; editing the model code gives new
keys, so new runs. ``force=True`` retrains a run in place.

Seeds: ``seed=`` of ``resolve``/``run`` (and ``Context.measure(seeds=...)``) is the training seed; each
(method, direction, seed) is its own cached run, and ``Context.measure`` reports mean ± std over the seeds
(``tspsis.reporting.Stat``).

Devices: the ``full`` and ``coco`` profiles need a GPU (``GPU_PROFILES``); ``require_device`` says so at once,
before any data is generated. ``nodes`` > 1 trains and tests on several machines (``launch.resolve_nodes``: each
runs the same notebook, its node rank and node 0's address in ``$NODE_RANK`` / ``$MASTER_ADDR``), one run at a time.

Registry: ``METHODS`` maps a row label of the paper's tables to a leaf config under configs/ (a template with
``{setting}``, the backbone/neck/data part chosen by the profile: ``SETTINGS``, and ``{direction}``,
``voc2nonvoc`` or ``nonvoc2voc``) plus the mixins of its variant (``configs/_base_/ts_variants/``). A run's config is
``Method.config(profile, direction, track)``: the leaf, then the variant's mixins, the track's (``TRACK_MIXINS``:
``detector``, the paper's protocol, adds none; ``box_conditioned`` adds ``_base_/tracks/box-conditioned.py`` and its
CPU sizing) and the profile's hardware sizing (``SIZING``: ``full`` = one GPU), merged in that order
(``tspsis.runner.load_config``). Calls that name no track use ``PROFILE_TRACKS[profile]``. A row whose files do
not exist, or that lacks the track, is simply not available (``available``); adding a method is one
``Method(...)`` line.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .io import write_json_atomic
from .launch import REPO_ROOT, DeviceError, Run, completed_run, resolve_gpus, train
from .paper import DIRECTIONS

__all__ = ["BOX_TRACK_MIXIN", "DIRECTIONS", "GPU_PROFILES", "METHODS", "PROFILES", "PROFILE_TRACKS", "SCHEDULES",
           "SECONDS_PER_RUN",
           "SETTINGS", "SIZING", "TRACKS", "TRACK_MIXINS", "ConfigSpec", "Context", "Experiment", "Method", "Schedule",
           "available", "code_digest", "config", "config_path", "data_profile", "default_data_root",
           "default_work_dir", "estimate_seconds",
           "PRETRAINING", "prepare_data", "pretraining", "require_device", "resolve", "run", "seen_specs",
           "training_seconds", "unavailable_reason"]

CONFIGS = REPO_ROOT / "configs"
PROFILES: tuple[str, ...] = ("tiny", "demo", "demo-all", "full", "coco")
# A profile that runs more rows on another profile's data: the same data (default data root, generated data) and
# the same default work dir, so the runs both schedule are trained once (a run's key does not name its profile).
SHARES_DATA_OF: dict[str, str] = {"demo-all": "demo"}
SEEN_OF: dict[str, str] = {"voc2nonvoc": "voc", "nonvoc2voc": "nonvoc"}  # the seen set of each direction
# {setting} of a leaf config's name per profile: the synthetic profiles share the synthetic leaves (R18 from scratch,
# sized for a 2-core CPU); `full` runs them with the one-GPU sizing (SIZING).
SETTINGS: dict[str, str] = {**dict.fromkeys(("tiny", "demo", "demo-all", "full"), "r18-scratch_fpn_synth"),
                            "coco": "r50_fpn_coco"}  # the schedule is not the leaf's name: its mixins name it
# Hardware sizing per profile: mixins (paths under configs/) merged last.
SIZING: dict[str, tuple[str, ...]] = {"tiny": (), "demo": (), "demo-all": (),
                                      "full": ("_base_/schedules/synth-gpu_1xb16-3000it.py",), "coco": ()}
# Tracks (DESIGN.md, "Two tracks"): the same heads and losses, RoIs from the detector (the paper's protocol) or the
# ground-truth boxes. Per track, the mixins added after the variant's, per profile; a profile not listed has no
# config in that track (the box-conditioned track is defined on the synthetic data only).
TRACKS: tuple[str, ...] = ("detector", "box_conditioned")
# the track's mixin (tspsis.predict applies the same file for --boxes) and its CPU sizing (mmdet's token: 1 x 16 images)
BOX_TRACK_MIXIN, _BOX_TRACK_CPU = "_base_/tracks/box-conditioned.py", "_base_/schedules/box-cpu_1xb16.py"
TRACK_MIXINS: dict[str, dict[str, tuple[str, ...]]] = {
    "detector": dict.fromkeys(PROFILES, ()),
    "box_conditioned": {**dict.fromkeys(("tiny", "demo", "demo-all"), (BOX_TRACK_MIXIN, _BOX_TRACK_CPU)),
                        "full": (BOX_TRACK_MIXIN,)},  # full: + SIZING's one-GPU schedule
}
# The track a profile runs when a call names none (resolve, run, available, Context).
# The CPU profiles run the box-conditioned track: a from-scratch detector cannot be trained on 2 cores in minutes,
# the mask heads (the paper's subject) can. `full` (GPU) and `coco` run the paper's detector track.
PROFILE_TRACKS: dict[str, str] = {"tiny": "box_conditioned", "demo": "box_conditioned",
                                  "demo-all": "box_conditioned", "full": "detector", "coco": "detector"}
_SEEN_SPEC = re.compile(r"voc|nonvoc|first-\d+")
_PLACEHOLDER_WORK_DIR = "WORK_DIR"  # the resolved config is hashed without the run's own folder


@dataclass(frozen=True)
class ConfigSpec:
    """A run's config: a leaf config file and the mixins merged over it, in order (``tspsis.runner.load_config``;
    ``tspsis train LEAF --mixin M1 --mixin M2 ...`` on the command line)."""

    leaf: Path
    mixins: tuple[Path, ...] = ()

    @property
    def name(self) -> str:
        """``<leaf stem>[+<mixin stem>...]`` (``tspsis.runner.composed_name``): what this config trains."""
        from .runner import composed_name

        return composed_name(self.leaf, self.mixins)

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.leaf, *self.mixins)

    def missing(self) -> list[Path]:
        return [f for f in self.files if not f.is_file()]

    def command(self, mode: str = "train") -> str:
        """The ``tspsis`` command line that trains (or tests: add the checkpoint) this config, paths relative to the
        repository, the work dir ``work_dirs/<name>``."""
        def rel(path: Path) -> str:
            return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
        return " ".join(["tspsis", mode, rel(self.leaf), *(f"--mixin {rel(m)}" for m in self.mixins),
                         f"--work-dir work_dirs/{self.name}"])


@dataclass(frozen=True)
class Method:
    """One row of the paper's tables and the config that implements it here: a leaf config (``template``, under
    configs/, with ``{setting}`` and ``{direction}``) and the mixins of its variant."""

    label: str      # row label as in the paper (tspsis.paper.TABLE1 keys)
    template: str   # leaf config path under configs/ without .py, with {setting} and {direction}
    mixins: tuple[str, ...] = ()  # the variant: mixins (paths under configs/) merged over the leaf, in order
    settings: Mapping[str, str] = field(default_factory=dict)  # per-profile {setting} where SETTINGS differs
    sizing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # per-profile sizing where SIZING differs
    tracks: tuple[str, ...] = TRACKS  # the tracks this method has
    untrained_tracks: tuple[str, ...] = ()  # tracks where nothing of the method learns: 1 iteration, no sizing
    why_not_tracks: str = ""  # why the method lacks the tracks it lacks (printed in the tables)
    track_mixins: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # per track, after the track's own

    def config_path(self, profile: str, direction: str) -> Path:
        """The leaf config file (may not exist)."""
        _check_choice("profile", profile, PROFILES)
        _check_choice("direction", direction, DIRECTIONS)
        setting = self.settings.get(profile, SETTINGS[profile])
        return CONFIGS / (self.template.format(setting=setting, direction=direction) + ".py")

    def lacks_track(self, profile: str, track: str) -> str | None:
        """Why this method has no config in ``track`` for ``profile``, or None if it has one."""
        _check_choice("profile", profile, PROFILES)
        _check_choice("track", track, TRACKS)
        if track not in self.tracks:
            return self.why_not_tracks or f"{self.label!r} has no {track} track (tracks: {', '.join(self.tracks)})"
        if profile not in TRACK_MIXINS[track]:
            return f"the {track} track is not defined for the {profile} profile"
        return None

    def config(self, profile: str, direction: str, track: str = "detector") -> ConfigSpec:
        """Leaf + variant mixins + track mixins + hardware sizing for a profile, direction and track; ValueError if
        this method or profile has no such track."""
        leaf = self.config_path(profile, direction)
        if (problem := self.lacks_track(profile, track)) is not None:
            raise ValueError(problem)
        track_mixins = TRACK_MIXINS[track][profile]
        if track in self.untrained_tracks:  # nothing trains: the track's own mixin, not its network sizing
            track_mixins = track_mixins[:1]
        mixins = (*self.mixins, *track_mixins, *self.track_mixins.get(track, ()),
                  *self.sizing.get(profile, SIZING[profile]))
        return ConfigSpec(leaf, tuple(CONFIGS / m for m in mixins))


_TS = "mask_rcnn_ts/ts-mask-rcnn_{setting}-{direction}"  # Mask R-CNN + ours, the leaf of its variants
_TS_BOXINST = "boxinst/ts-boxinst_{setting}-{direction}"
_VARIANT = "_base_/ts_variants/{}.py".format
# Every class-specific mask head of the box-conditioned track (the Oracle, the student Fs of every "+ ours" row)
# learns its C-channel logit layer at C x the base rate: each class channel gets ~1/C of the mask-loss gradient
# (configs/_base_/class_specific/logits-lr.py; chosen on held-out data, README). Not MaskX: its class weights are
# generated from the box head's by a shared transfer function. Not the detector track (the paper's protocol).
_LOGITS_LR = "_base_/class_specific/logits-lr.py"
_CLASS_SPECIFIC = dict(track_mixins={"box_conditioned": (_LOGITS_LR,)})
# Teacher-student rows of the box-conditioned track: the student learns unseen objects from half-way through
# (measured on held-out data, README "Results"); "ts: no warm-up" is the paper's setting.
_TS_OPTIONS = dict(track_mixins={"box_conditioned": (_VARIANT("warmup-half"), _LOGITS_LR)})
# BoxInst keeps its own 90k-iteration multi-scale schedule and, on one GPU, its own lr; it has no box-conditioned track
_BOXINST = dict(sizing={"full": ("_base_/schedules/boxinst-synth-gpu_1xb16-3000it.py",)}, tracks=("detector",),
                why_not_tracks="detector track only: BoxInst's masks come from dynamic filters that its FCOS head "
                               "predicts per location, not from RoI features, so a given box has no mask head input "
                               "of its own; choosing one location per box would be another model than the paper's")
METHODS: dict[str, Method] = {m.label: m for m in (
    # Table 1 rows, in the paper's order; a row without a config is shown with the paper's numbers only.
    Method("Mask R-CNN", "mask_rcnn/psis-mask-rcnn_{setting}-{direction}"),      # class-agnostic mask head
    Method("Mask R-CNN + ours", _TS, **_TS_OPTIONS),                              # teacher-student, r = threshold
    Method("MaskX R-CNN", "maskx_rcnn/maskx-rcnn_{setting}-{direction}"),
    # given boxes need no detector: GrabCut alone makes the masks of the box-conditioned track
    Method("Mask GrabCut", "grabcut/grabcut-faster-rcnn_{setting}-{direction}", untrained_tracks=("box_conditioned",)),
    Method("CPMask", "cpmask/cpmask_{setting}-{direction}"),
    Method("OPMask", "opmask/opmask_{setting}-{direction}"),
    Method("OPMask + ours", "opmask/ts-opmask_{setting}-{direction}", **_TS_OPTIONS),
    Method("BoxInst", "boxinst/psis-boxinst_{setting}-{direction}", **_BOXINST),
    Method("BoxInst + ours", _TS_BOXINST, **_BOXINST),
    Method("Oracle", "mask_rcnn/oracle-mask-rcnn_{setting}-{direction}", **_CLASS_SPECIFIC),  # every mask
    # Variants of "BoxInst + ours" for Table 5 (the paper's own setting of that table)
    Method("BoxInst + ours: CRF", _TS_BOXINST, (_VARIANT("boxinst-crf"),), **_BOXINST),            # r = CRF
    Method("BoxInst + ours: interact", _TS_BOXINST, (_VARIANT("boxinst-interact"),), **_BOXINST),  # (Mt + Ms)/2
    # Variants of "Mask R-CNN + ours" for Tables 3-5
    Method("ts: no post-processing", _TS, (_VARIANT("no-post"),), **_TS_OPTIONS),      # Table 4: G_l = Mt
    Method("ts: CRF", _TS, (_VARIANT("crf"),), **_TS_OPTIONS),                         # Table 5: r = CRF, >= 0.5
    Method("ts: interact", _TS, (_VARIANT("interact"),), **_TS_OPTIONS),               # Table 5: (Mt + Ms)/2
    Method("ts: high-res teacher", _TS, (_VARIANT("hr-teacher"),), **_TS_OPTIONS),     # Table 3: 56 x 56
    Method("ts: deeper teacher", _TS, (_VARIANT("deep-teacher"),), **_TS_OPTIONS),     # Table 3: 12 convs
    Method("ts: no warm-up", _TS, **_CLASS_SPECIFIC),  # the paper's setting: r(Mt) trains Fs from the start
)}
# The shared pre-training of a profile (Schedule.pretrain_iters; not a table row): the class-agnostic baseline's leaf,
# track and sizing with its mask head removed, trained on the boxes and labels of every category (no mask is read),
# the analogue of the paper's ImageNet initialisation. Every trained row of the profile starts from its weights.
PRETRAINING = Method("pretraining: box classification", "mask_rcnn/psis-mask-rcnn_{setting}-{direction}",
                     track_mixins=dict.fromkeys(TRACKS, ("_base_/pretrain/box_classification.py",)))
_PRETRAIN_DIRECTION = "voc2nonvoc"  # boxes and labels of every category: the same data in both directions


@dataclass(frozen=True)
class Schedule:
    """How much of the paper a profile runs, and how long each training is."""

    max_iters: int | None                 # passed to launch.train (rescales the schedule); None: the config's
    methods: Mapping[str, tuple[str, ...]] | None  # METHODS this profile trains -> their directions (None: all)
    ablation_directions: tuple[str, ...]  # directions of Tables 3 and 5 (Table 4 is voc2nonvoc only)
    seen_first_k: tuple[int, ...]         # Fig. 8: seen = voc + the first K non-voc categories (K = 0: voc)
    seen_split_methods: tuple[str, ...]   # Fig. 8's methods (the paper: Mask R-CNN and OPMask, each +- ours)
    cfg_options: tuple[str, ...]          # profile-wide overrides (part of every run's key)
    parallel_runs: int                    # CPU runs trained at once by Context.run_all (see Context)
    note: str                             # what the measured numbers are, printed under every table
    train_seeds: tuple[int, ...] = (0,)   # training seeds of the notebooks (their train_seed=None)
    seeded_methods: tuple[str, ...] | None = None  # methods trained on every seed (None: all); others on the first
    pretrain_iters: int | None = None     # iterations of the shared pre-training (PRETRAINING); None: none


# Training ends with one test pass (tspsis.runner); the validation pass the iteration schedules add at the end
# would score the same images a second time, so the profiles that count seconds drop it.
_NO_VALIDATION = ("val_dataloader=None", "val_cfg=None", "val_evaluator=None")
_NO_WORKERS = ("train_dataloader.num_workers=0", "test_dataloader.num_workers=0")
# Runs of a few iterations: the last checkpoint is all the test pass needs (~100 MB each for the R18 models).
_SHORT_RUN = _NO_VALIDATION + _NO_WORKERS + ("default_hooks.checkpoint.max_keep_ckpts=1",)
_MASK_RCNN_FAMILY = ("Mask R-CNN", "Mask R-CNN + ours", "Oracle", "ts: no post-processing", "ts: CRF",
                     "ts: interact", "ts: high-res teacher", "ts: deeper teacher")
_OTHER_METHODS = ("MaskX R-CNN", "Mask GrabCut", "CPMask", "OPMask", "OPMask + ours", "BoxInst", "BoxInst + ours",
                  "BoxInst + ours: CRF", "BoxInst + ours: interact")
_FIG8_MASK_RCNN = ("Mask R-CNN", "Mask R-CNN + ours")
_FIG8_PAPER = (*_FIG8_MASK_RCNN, "OPMask", "OPMask + ours")

_CORE = ("Mask R-CNN", "Mask R-CNN + ours", "Oracle")
_CLAIM_VARIANTS = ("ts: deeper teacher", "ts: CRF", "ts: interact")  # claims 4 and 5


def _demo_schedule(profile: str, **rows) -> Schedule:
    """The CPU schedule of `demo` and `demo-all` (``profile``, named in the table note); ``rows``: which rows they
    train (methods, seen_first_k, seeded_methods)."""
    return Schedule(
        max_iters=500, ablation_directions=("voc2nonvoc",), seen_split_methods=_FIG8_MASK_RCNN,
        cfg_options=_SHORT_RUN, parallel_runs=2, train_seeds=(0, 1, 2), pretrain_iters=1500,
        note=f"{profile} profile, box-conditioned track: mask heads trained and tested on the ground-truth boxes (no RPN, "
             "detections = the val boxes and labels, score = the mask's mean foreground probability); synthetic "
             "160 px data, ResNet-18 at a quarter width + FPN pre-trained on box classification (no masks), then "
             "500 iterations of 16 images per model on 2 CPU cores; ± = std over training seeds (n in each cell)",
        **rows)


SCHEDULES: dict[str, Schedule] = {
    # Smoke test of the whole chain: a couple of iterations, numbers are meaningless.
    "tiny": Schedule(
        max_iters=2, methods=dict.fromkeys(_MASK_RCNN_FAMILY, DIRECTIONS), ablation_directions=("voc2nonvoc",),
        seen_first_k=(0, 6), seen_split_methods=_FIG8_MASK_RCNN,
        cfg_options=_SHORT_RUN + ("default_hooks.logger.interval=1",), parallel_runs=2, pretrain_iters=2,
        note="tiny profile, box-conditioned track: 2 training iterations per model on 16 images; a smoke test, "
             "not a result"),
    # The README's main job (`make demo`): the box-conditioned track (PROFILE_TRACKS) on 2 CPU cores, every trained
    # model from the shared box-classification pre-training (1500 iterations, PRETRAINING), then 500 iterations of
    # 16 images (5.3 epochs of the 1500 training images); schedule and options chosen on held-out data (generator
    # seed 1; README "How the demo's set-up was chosen"), so the rows compare with each other, not
    # with the paper. Within the hour: the rows of the paper's claims, each on 3 training seeds — Mask R-CNN, + ours
    # and the Oracle in both directions, the deeper teacher and r = CRF / interact voc -> non-voc — plus the
    # untrained Mask GrabCut and Table 4's no-warm-up row; every other row is in `demo-all`.
    "demo": _demo_schedule(
        "demo",
        methods={**dict.fromkeys(_CORE, DIRECTIONS), **dict.fromkeys((*_CLAIM_VARIANTS, "ts: no warm-up",
                                                                     "Mask GrabCut"), ("voc2nonvoc",))},
        seen_first_k=(0,), seeded_methods=(*_CORE, *_CLAIM_VARIANTS)),
    # `demo` and every other row the box-conditioned track has (voc -> non-voc, one seed; BoxInst: detector track
    # only), and Fig. 8's second seen split. Shares the demo's data and work dir: after `make demo` it trains
    # only the rows the demo does not.
    "demo-all": _demo_schedule(
        "demo-all",
        methods={**dict.fromkeys(_CORE, DIRECTIONS),
                 **dict.fromkeys((*_MASK_RCNN_FAMILY[3:], "ts: no warm-up",
                                  *(m for m in _OTHER_METHODS if not m.startswith("BoxInst"))), ("voc2nonvoc",))},
        seen_first_k=(0, 9), seeded_methods=(*_CORE, *_CLAIM_VARIANTS)),
    "full": Schedule(
        max_iters=None, methods=None, ablation_directions=DIRECTIONS, seen_first_k=(0, 6, 12),
        seen_split_methods=_FIG8_PAPER, cfg_options=(), parallel_runs=1,
        note="full profile: synthetic `full` data (20000 train images), R18-FPN from scratch, "
             "the GPU configs' schedule"),
    "coco": Schedule(
        max_iters=None, methods=None, ablation_directions=DIRECTIONS, seen_first_k=(0, 10, 20, 30, 40),
        seen_split_methods=_FIG8_PAPER, cfg_options=(), parallel_runs=1,
        note="coco profile: COCO 2017, R50-FPN, the paper's schedules"),
}


# Profiles that cannot run on a CPU, and why (the message of require_device).
GPU_PROFILES: dict[str, str] = {
    "full": "its configs (+synth-gpu_1xb16-3000it) train with AMP on a GPU, 20000 images",
    "coco": "R50-FPN on COCO 2017 at the paper's schedules, 12 epochs of 118k images per model",
}
# Wall seconds of one training run (start-up, training, test pass) per profile, for the estimate Context.run_all
# prints before training; cached runs' own timing (metrics.json run.wall_seconds_total) is preferred when there
# is some. demo: a 500-iteration box-conditioned run with one thread, two at a time on 2 CPU cores: median 214 s
# with start-up and test pass over the reference run's 25 runs (README "Results"), measured with the previous set-up
# (7x7 -> 14x14 heads, fp32), until the reference run is regenerated. tiny: one run of the tiny profile on 2 shared cores
# (~19 s, measured by the helper who added this). full / coco: not measured yet (None: no estimate).
SECONDS_PER_RUN: dict[str, float | None] = {"tiny": 20.0, "demo": 214.0, "demo-all": 214.0, "full": None,
                                            "coco": None}


def require_device(profile: str, gpus: int | None = None) -> int:
    """The number of processes ``gpus`` means (``launch.resolve_gpus``: None = every visible GPU, or the CPU);
    raises ``launch.DeviceError`` at once, naming the fix, if ``profile`` needs a GPU (``GPU_PROFILES``) and
    none would be used. Call it before generating data or starting runs."""
    _check_choice("profile", profile, PROFILES)
    resolved = resolve_gpus(gpus)
    if profile in GPU_PROFILES and resolved == 0:
        import torch

        if gpus == 0 and torch.cuda.is_available():
            why = "gpus=0 asks for the CPU; leave gpus unset (every visible GPU) or pass --gpus 1"
        else:
            why = ("none is visible (torch.cuda.is_available() is False); use --profile demo on a CPU "
                   "(or --profile tiny for a smoke test)")
        raise DeviceError(f"profile {profile!r} needs a GPU ({GPU_PROFILES[profile]}): {why}")
    return resolved


def estimate_seconds(profile: str, work_dir: str | Path | None = None) -> tuple[float | None, str]:
    """Seconds one training run of ``profile`` takes, and where the number comes from: the median
    ``run.wall_seconds_total`` of the finished runs of that profile in ``work_dir``, else ``SECONDS_PER_RUN``."""
    measured = []
    for experiment in Path(work_dir).glob("*/experiment.json") if work_dir else ():
        try:
            if json.loads(experiment.read_text()).get("profile") != profile:
                continue
            seconds = json.loads((experiment.parent / "metrics.json").read_text())["run"].get("wall_seconds_total")
        except (OSError, ValueError, KeyError):
            continue
        if seconds:
            measured.append(float(seconds))
    if measured:
        measured.sort()
        return measured[len(measured) // 2], f"median of {len(measured)} finished {profile} runs here"
    seconds = SECONDS_PER_RUN.get(profile)
    return seconds, (f"the {profile} profile's measured SECONDS_PER_RUN" if seconds else
                     f"no timing measured for the {profile} profile yet")


PACKAGE = Path(__file__).resolve().parent  # tspsis/ (code_digest reads it; tests point it at a copy)


def code_digest(roots: Iterable[str] = ("runner", "models")) -> str:
    """sha256 of the source of every tspsis module a training process can import (part of the run key).

    Starts from ``tspsis/<root>.py`` or ``tspsis/<root>/__init__.py`` (``python -m tspsis.runner`` imports
    tspsis, tspsis.runner and, through the configs' ``custom_imports``, tspsis.models) and follows every
    ``import``/``from ... import`` of a tspsis module found in their syntax trees, lazy imports inside
    functions included. Files are hashed by path relative to the package, in order."""
    files = _import_closure([f"tspsis.{root}" for root in roots])
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(PACKAGE.parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _module_file(module: str) -> Path | None:
    """tspsis.a.b -> PACKAGE/a/b.py or PACKAGE/a/b/__init__.py (None if neither exists)."""
    parts = module.split(".")[1:]
    base = PACKAGE.joinpath(*parts)
    for candidate in (base.with_suffix(".py") if parts else None, base / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _import_closure(modules: list[str]) -> list[Path]:
    """The files of ``modules`` (dotted tspsis names), their parent packages and every tspsis module they
    import, transitively; sorted."""
    import ast

    seen: dict[str, Path] = {}
    todo = ["tspsis", *modules]
    while todo:
        module = todo.pop()
        if module in seen or (path := _module_file(module)) is None:
            continue
        seen[module] = path
        todo += [".".join(module.split(".")[:k]) for k in range(1, module.count(".") + 1)]  # parent packages
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names if alias.name.split(".")[0] == "tspsis"]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                    target = f"{base}.{node.module}" if node.module else base
                elif node.module and node.module.split(".")[0] == "tspsis":
                    target = node.module
                else:
                    continue
                todo += [target, *(f"{target}.{alias.name}" for alias in node.names)]  # names may be modules
    return sorted(set(seen.values()))


def _check_choice(name: str, value: str, choices: Iterable[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def _method(method: str) -> Method:
    if method == PRETRAINING.label:
        return PRETRAINING
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    return METHODS[method]


def config_path(method: str, direction: str, profile: str) -> Path:
    """The leaf config file of ``method`` (a ``METHODS`` label) for a direction and profile (may not exist); the
    mixins merged over it: ``config``."""
    return _method(method).config_path(profile, direction)


def config(method: str, direction: str, profile: str, track: str | None = None) -> ConfigSpec:
    """The leaf config and mixins of ``method`` for a direction, profile and track (None: ``PROFILE_TRACKS``);
    ValueError if the method or profile has no such track."""
    _check_choice("profile", profile, PROFILES)
    return _method(method).config(profile, direction, PROFILE_TRACKS[profile] if track is None else track)


def unavailable_reason(method: str, direction: str, profile: str, track: str | None = None) -> str | None:
    """Why ``available`` is False (no such track, or the files that do not exist), None if it is True."""
    _check_choice("profile", profile, PROFILES)
    _check_choice("direction", direction, DIRECTIONS)
    track = PROFILE_TRACKS[profile] if track is None else track
    if (problem := _method(method).lacks_track(profile, track)) is not None:
        return problem
    missing = config(method, direction, profile, track).missing()
    return f"no {', '.join(str(f.relative_to(CONFIGS)) for f in missing)}" if missing else None


def available(method: str, direction: str, profile: str, track: str | None = None) -> bool:
    """True if the repository has the config (leaf and mixins) of this row for this direction, profile and track
    (None: ``PROFILE_TRACKS[profile]``)."""
    return unavailable_reason(method, direction, profile, track) is None


def data_profile(profile: str) -> str:
    """The profile whose data ``profile`` runs on (``SHARES_DATA_OF``; itself for most)."""
    _check_choice("profile", profile, PROFILES)
    return SHARES_DATA_OF.get(profile, profile)


def default_data_root(profile: str) -> Path:
    """data/synth/<data profile> for the synthetic profiles, data/coco for ``coco``."""
    return REPO_ROOT / "data" / ("coco" if profile == "coco" else f"synth/{data_profile(profile)}")


def default_work_dir(profile: str) -> Path:
    """work_dirs/<data profile>: where a profile's runs are cached (shared with the profile whose data it runs on)."""
    return REPO_ROOT / "work_dirs" / data_profile(profile)


def _source_names(profile: str) -> tuple[str, str]:
    """Full train / val annotation file names under DATA_ROOT/annotations (COCO 2017 names for coco)."""
    return ("instances_train2017.json", "instances_val2017.json") if profile == "coco" else ("train.json", "val.json")


def seen_specs(profile: str) -> list[str]:
    """Seen-set specs of Fig. 8 for a profile: ``voc`` and ``first-K`` (voc + the first K non-voc categories)."""
    return ["voc" if k == 0 else f"first-{k}" for k in SCHEDULES[profile].seen_first_k]


def _split_paths(annotations: Path, source: str, spec: str) -> tuple[Path, Path]:
    stem = Path(source).stem
    return annotations / f"{stem}_{spec}.json", annotations / f"{stem}_{spec}.manifest.json"


def _ensure_split(annotations: Path, source: str, spec: str) -> tuple[Path, Path]:
    """Write the split of ``source`` for ``spec`` unless an up-to-date one exists (COCO's train file is big)."""
    from .splits import write_split

    out, manifest = _split_paths(annotations, source, spec)
    src = annotations / source
    if not (out.is_file() and manifest.is_file() and out.stat().st_mtime >= src.stat().st_mtime):
        write_split(src, spec, out)
    return out, manifest


def prepare_data(profile: str, data_root: str | Path | None = None, seed: int = 0) -> dict:
    """Generate (synthetic profiles) or locate (``coco``) the data, and write every split the notebooks use.

    Splits (``tspsis.splits.write_split``): voc and nonvoc (the two directions) and the profile's Fig. 8 seen
    sets, as DATA_ROOT/annotations/<train stem>_<spec>.json + .manifest.json. Returns {"root", "train_ann",
    "val_ann", "val_images", "generated" (bool), "splits": {spec: {"ann", "manifest"}}} (paths).
    """
    _check_choice("profile", profile, PROFILES)
    root = Path(data_root) if data_root is not None else default_data_root(profile)
    train_name, val_name = _source_names(profile)
    annotations = root / "annotations"
    if profile == "coco":
        for name in (train_name, val_name):
            if not (annotations / name).is_file():
                raise FileNotFoundError(f"{annotations / name} not found: the coco profile needs COCO 2017 "
                                        f"(annotations/, train2017/, val2017/) under {root}")
        generated = False
    else:
        from .data.synth import generate

        generated = generate(data_profile(profile), root, seed=seed)["generated"]
    specs = list(dict.fromkeys([*SEEN_OF.values(), *seen_specs(profile)]))
    splits = {}
    for spec in specs:
        ann, manifest = _ensure_split(annotations, train_name, spec)
        splits[spec] = {"ann": ann, "manifest": manifest}
    return {"root": root.resolve(), "train_ann": annotations / train_name, "val_ann": annotations / val_name,
            "val_images": root / ("val2017" if profile == "coco" else "val"), "generated": generated,
            "splits": splits}


@dataclass(frozen=True)
class Experiment:
    """A resolved run: what ``train`` trains and where (see the module docstring for the key)."""

    method: str
    direction: str
    profile: str
    config: Path
    work_dir: Path
    data_root: Path
    max_iters: int | None
    seen: str | None
    gpus: int
    cfg_options: tuple[str, ...]
    key: str
    mixins: tuple[Path, ...] = ()  # merged over `config` in order (ConfigSpec)
    track: str = "detector"
    seed: int = 0  # training seed (randomness.seed)
    code: str = ""  # code_digest() of the key
    nodes: int = 1  # machines, gpus processes on each (launch.train)
    pretrained: Experiment | None = None  # the shared pre-training this run starts from (its checkpoint)

    @property
    def final_checkpoint(self) -> Path:
        """The checkpoint the run ends with (iteration schedules: ``iter_<max_iters>.pth``)."""
        if self.max_iters is None:
            raise ValueError(f"{self.work_dir.name}: the final checkpoint of a run without max_iters is not known "
                             "before it runs")
        return self.work_dir / f"iter_{self.max_iters}.pth"

    def train(self, force: bool = False) -> Run:
        """Write the seen split if needed and ``experiment.json``, then ``launch.train`` (after the shared
        pre-training it starts from, once, if not done yet). A finished run is returned at once, silently
        (``Context.run_all``'s plan line counts the cached runs)."""
        if not force and (done := completed_run(self.work_dir)) is not None:
            return done
        if self.pretrained is not None:
            with _PRETRAINING_LOCK:  # parallel runs of run_all share one pre-training
                self.pretrained.train()
        if self.seen is not None:
            _ensure_split(self.data_root / "annotations", _source_names(self.profile)[0], self.seen)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.work_dir / "experiment.json", {
            "method": self.method, "direction": self.direction, "profile": self.profile, "track": self.track,
            "config": str(self.config), "mixins": [str(m) for m in self.mixins], "data_root": str(self.data_root),
            "max_iters": self.max_iters, "seen": self.seen, "gpus": self.gpus, "nodes": self.nodes, "seed": self.seed,
            "cfg_options": list(self.cfg_options), "code_digest": self.code, "key": self.key,
            "pretrained": self.pretrained and str(self.pretrained.final_checkpoint)}, indent=1)
        return train(self.config, self.work_dir, gpus=self.gpus, cfg_options=self.cfg_options,
                     data_root=self.data_root, max_iters=self.max_iters, seed=self.seed, force=force,
                     mixins=self.mixins, nodes=self.nodes)


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
    old = SEEN_OF[direction]
    options = []
    train_ann = cfg.train_dataloader.dataset.ann_file
    if Path(train_ann).name != source:
        options.append(f"train_dataloader.dataset.ann_file={_renamed_split(train_ann, old, seen, source)}")
    for key in ("val_evaluator", "test_evaluator"):
        if cfg.get(key) is not None:
            options.append(f"{key}.manifest={_renamed_split(cfg[key].manifest, old, seen, source)}")
    return options


def _data_fingerprint(data_root: Path, profile: str) -> list:
    """[name, size, mtime_ns] of the source annotation files: a regenerated dataset gets new keys."""
    files = [data_root / "annotations" / name for name in _source_names(profile)]
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] if f.is_file() else [f.name, None, None] for f in files]


def resolve(method: str, direction: str, *, profile: str, data_root: str | Path, work_dir: str | Path,
            gpus: int = 0, seen: str | None = None, max_iters: int | None | str = "profile",
            cfg_options: Iterable[str] = (), track: str | None = None, seed: int = 0, nodes: int = 1,
            mixins: Iterable[str | Path] = ()) -> Experiment:
    """Resolve a run without training it: config and mixins, options, cache key and run folder.

    seen: None (the direction's own split) or ``voc`` / ``nonvoc`` / ``first-K``: train and score with that seen
    set (Fig. 8), through ``train_dataloader.dataset.ann_file`` and the evaluators' ``manifest``.
    max_iters: "profile" (``SCHEDULES[profile].max_iters``), None (the config's schedule) or a number.
    track: ``detector`` or ``box_conditioned`` (None: ``PROFILE_TRACKS[profile]``).
    seed: the training seed (``randomness.seed`` of the resolved config, so part of the key).
    gpus: the number of processes, resolved (0 = CPU; see ``launch.resolve_gpus``), on each of ``nodes`` machines.
    mixins: config files (paths under configs/, or absolute) merged after the row's own: a variant of your own.
    """
    from .runner import composed_name, load_config

    track = PROFILE_TRACKS[profile] if track is None and profile in PROFILE_TRACKS else track
    spec = config(method, direction, profile, track)
    spec = ConfigSpec(spec.leaf, (*spec.mixins, *(CONFIGS / m for m in mixins)))
    if missing := spec.missing():
        raise FileNotFoundError(f"{missing[0]}: no config for method {method!r} ({direction}, profile {profile}, "
                                f"{track} track)")
    mixins = [str(m) for m in spec.mixins]
    if seen is not None and not _SEEN_SPEC.fullmatch(seen):
        raise ValueError(f"seen must be 'voc', 'nonvoc' or 'first-K', got {seen!r}")
    if seen == SEEN_OF[direction]:
        seen = None  # the direction's own split: the same run as without `seen`
    schedule = SCHEDULES[profile]
    iters = schedule.max_iters if max_iters == "profile" else max_iters
    untrained = track in _method(method).untrained_tracks
    if untrained:
        iters = 1  # nothing to learn (e.g. GrabCut on given boxes): one iteration, then the test pass
    data_root = Path(data_root).resolve()
    options = [*schedule.cfg_options, *cfg_options]
    pretrained = None
    if schedule.pretrain_iters is not None and method != PRETRAINING.label and not untrained:
        pretrained = pretraining(profile, data_root, gpus=gpus, track=track, nodes=nodes)
        # the detector's init_cfg loads after every module's own initialisation (mmengine BaseModule.init_weights),
        # non-strictly: what the pre-training has not (mask heads, OPMask's conv box head) keeps its own init
        # ('+': keys the detector accepts but the configs do not set; tspsis.runner.checked_options)
        options += ["+model.init_cfg.type=Pretrained", f"+model.init_cfg.checkpoint={pretrained.final_checkpoint}"]
    if seen is not None:
        cfg = load_config(str(spec.leaf), _PLACEHOLDER_WORK_DIR, options, str(data_root), mixins=mixins)
        options += _seen_options(cfg, direction, seen, _source_names(profile)[0])
    cfg = load_config(str(spec.leaf), _PLACEHOLDER_WORK_DIR, options, str(data_root), iters, mixins=mixins, seed=seed)
    code = code_digest()
    material = json.dumps({"config": cfg.to_dict(), "data_root": str(data_root), "max_iters": iters,
                           "seen": seen, "processes": max(gpus, 1) * nodes, "code": code,
                           "data": _data_fingerprint(data_root, profile)}, sort_keys=True, default=str)
    key = hashlib.sha256(material.encode()).hexdigest()[:10]
    name = composed_name(spec.leaf, spec.mixins, iters) + (f"-seen-{seen}" if seen else "") + f"-{key}"
    return Experiment(method, direction, profile, spec.leaf, Path(work_dir).resolve() / name, data_root, iters, seen,
                      gpus, tuple(options), key, spec.mixins, track, seed=seed, code=code, nodes=nodes,
                      pretrained=pretrained)


_PRETRAINING_LOCK = threading.Lock()


def pretraining(profile: str, data_root: str | Path, gpus: int = 0, track: str | None = None,
                nodes: int = 1) -> Experiment:
    """The shared pre-training of ``profile`` on ``data_root`` (``PRETRAINING``, ``Schedule.pretrain_iters``
    iterations, training seed 0): a cached run in ``DATA_ROOT/pretrained/``, next to the splits it was made from.
    ``.train()`` trains it (once); ``.final_checkpoint`` is what every row of the profile loads."""
    if SCHEDULES[profile].pretrain_iters is None:
        raise ValueError(f"the {profile} profile has no shared pre-training (Schedule.pretrain_iters is None)")
    data_root = Path(data_root).resolve()
    # resolving parses the configs; the arguments of the cached call include what the key depends on
    return _pretraining(profile, data_root, gpus, track, nodes, code_digest(),
                        json.dumps(_data_fingerprint(data_root, profile)))


@lru_cache(maxsize=None)
def _pretraining(profile: str, data_root: Path, gpus: int, track: str | None, nodes: int, code: str,
                 data: str) -> Experiment:
    return resolve(PRETRAINING.label, _PRETRAIN_DIRECTION, profile=profile, data_root=data_root,
                   work_dir=data_root / "pretrained", gpus=gpus, max_iters=SCHEDULES[profile].pretrain_iters,
                   track=track, nodes=nodes)


def run(method: str, direction: str, *, profile: str, data_root: str | Path, work_dir: str | Path,
        gpus: int = 0, seen: str | None = None, max_iters: int | None | str = "profile",
        cfg_options: Iterable[str] = (), force: bool = False, track: str | None = None, seed: int = 0,
        nodes: int = 1) -> Run:
    """Train and test one row of the paper (cached, see the module docstring) and return the finished run.

    method: a ``METHODS`` label; direction: ``voc2nonvoc`` or ``nonvoc2voc``; profile: tiny / demo / full / coco;
    gpus: 0 = CPU, 1 = one process, N > 1 = torchrun with N processes (on each of ``nodes`` machines); track:
    ``detector`` / ``box_conditioned`` (None: ``PROFILE_TRACKS[profile]``). Other arguments as in ``resolve``.
    A ``seen`` split is written first if it does not exist. ``run.metrics`` holds the nested
    ``tspsis.evaluation`` output ("segm"/"bbox" -> "unseen"/"seen"/"all"/overlap subsets) plus "run" meta.
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


@dataclass
class Context:
    """A notebook's parameters, resolved, with ``run`` / ``run_all`` / ``measure`` bound to them (``create``).

    On CPU (``gpus == 0``) ``run_all`` trains up to ``Schedule.parallel_runs`` runs at once, each process with
    ``cpu_count // parallel_runs`` threads (``OMP_NUM_THREADS``): the small convolutions of these models scale
    poorly over threads (on 2 loaded cores one 2-thread run measured 6.5 s per iteration, two 1-thread runs
    3.1 s each), and one run's single-threaded parts (start-up, COCO evaluation) overlap the other's training.
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
        from .notebooks import prepare_kernel

        prepare_kernel()
        gpus = require_device(profile, gpus)
        if train_seed is None:
            train_seed = SCHEDULES[profile].train_seeds
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
        return SCHEDULES[self.profile]

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
        if reason is not None and _method(method).lacks_track(self.profile, PROFILE_TRACKS[self.profile]):
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
                       for m, d, seen, seed in requests]  # config parsing: one thread
        parallel = self.schedule.parallel_runs if self.gpus == 0 and self.nodes == 1 else 1
        if self.gpus == 0:  # the same thread count for a lone run: Table 5's times stay comparable
            os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // parallel))  # launch passes it on
        print_plan(experiments, parallel, self.profile, self.work_dir)
        with ThreadPoolExecutor(parallel) as pool:
            results = list(pool.map(Experiment.train, experiments))
        for (method, direction, seen, seed), result in zip(requests, results):
            self.runs[" | ".join(filter(None, (method, direction, seen and f"seen {seen}", f"seed {seed}")))] = result
        return results

    def measure_each(self, requests: Iterable[tuple], record: str = "unseen", iou_type: str = "segm",
                     seeds: Iterable[int] | None = None) -> dict[tuple, dict]:
        """Train every (method, direction[, seen]) once per seed (all of them through one ``run_all``) and
        return {request: ``metrics[iou_type][record]`` over the seeds (``reporting.over_seeds``: numbers become
        ``reporting.Stat``, mean ± std and n)}. seeds: None = ``seeds_of(method)``."""
        from .reporting import over_seeds

        requests = [tuple(r) for r in requests]
        per_request = [self.seeds_of(r[0]) if seeds is None else tuple(seeds) for r in requests]
        runs = iter(self.run_all([(*(*r, None)[:3], seed) for r, rs in zip(requests, per_request) for seed in rs]))
        return {r: over_seeds([next(runs).metrics[iou_type][record] for _ in rs], rs)
                for r, rs in zip(requests, per_request)}

    def test_with(self, method: str, direction: str, cfg_options: Sequence[str], name: str,
                  record: str = "unseen", iou_type: str = "segm") -> dict:
        """Test the trained runs of ``method`` (one per ``seeds_of(method)``) again with ``cfg_options`` (e.g.
        ``model.roi_head.test_mask_head=teacher``: the same checkpoint, the teacher predicts); the results go to
        each run's ``test-<name>.metrics.json`` (cached: a finished test is read back) and come back as
        ``metrics[iou_type][record]`` over the seeds."""
        from .launch import completed_run, metrics_file_of_test, test
        from .reporting import over_seeds

        seeds = self.seeds_of(method)
        records = []
        for seed, trained in zip(seeds, self.run_all([(method, direction, None, seed) for seed in seeds])):
            experiment = resolve(method, direction, profile=self.profile, data_root=self.data_root,
                                 work_dir=self.work_dir, gpus=self.gpus, seed=seed, nodes=self.nodes)
            tested = completed_run(trained.work_dir, metrics_file_of_test(name)) or test(
                experiment.config, trained.checkpoint, trained.work_dir, gpus=self.gpus, data_root=self.data_root,
                cfg_options=[*experiment.cfg_options, *cfg_options], name=name, mixins=experiment.mixins,
                nodes=self.nodes)
            records.append(tested.metrics[iou_type][record])
        return over_seeds(records, seeds)

    def seeds_of(self, method: str) -> tuple[int, ...]:
        """The training seeds ``measure`` uses for ``method``: every ``train_seeds`` for the profile's
        ``seeded_methods`` (all methods when None), the first one for the others (time budget)."""
        seeded = self.schedule.seeded_methods
        return self.train_seeds if seeded is None or method in seeded else self.train_seeds[:1]

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
