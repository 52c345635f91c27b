"""The profiles: how much of the paper one run of the notebooks covers, on which data, track and hardware.

A profile is one :class:`Profile` in ``PROFILES`` (docs/DESIGN.md, "Profiles"): its data (a synthetic benchmark
that ``tspsis.core.synth`` generates, or COCO 2017 on disk), the ``{setting}`` of the leaf configs it runs, its
default track and the mixins of each track it has, its hardware sizing, its :class:`Schedule` (iterations, rows,
seeds, ...), whether it needs a GPU and how long one run takes. Everything else (``tspsis.lab.registry``,
``tspsis.lab.runs``, ``Context``, the CLI) reads these attributes: adding a profile is one entry here (plus, for new
synthetic data, its generator settings in ``tspsis.core.synth.SYNTH_PROFILES``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from tspsis.apis import BOX_TRACK_MIXIN
from tspsis.core.paper import DIRECTIONS
from tspsis.core.paths import REPO_ROOT
from tspsis.core.splits import COVERAGE_SPECS
from tspsis.core.validate import check_choice
from tspsis.engine.launch import DeviceError, resolve_gpus
from tspsis.lab.records import run_records

__all__ = ["DETECTOR_TRACK_CPU", "PROFILES", "TRACKS", "DataSource", "Profile", "Schedule", "data_profile",
           "default_data_root", "default_work_dir", "estimate_seconds", "get_profile", "require_device",
           "seen_specs", "source_names"]

# Tracks (docs/DESIGN.md, "Two tracks"): the same heads and losses, RoIs from the detector (the paper's protocol) or
# the ground-truth boxes. A profile lists the tracks it has (Profile.track_mixins); the box-conditioned track is
# defined on the synthetic data only.
TRACKS: tuple[str, ...] = ("detector", "box_conditioned")
# the track's CPU sizing over its mixin (BOX_TRACK_MIXIN, which prediction with given boxes merges too); mmdet's
# token: 1 x 16 images; the iterations are the profile's, --max-iters, and name the run:
# tspsis.engine.config.composed_name
_BOX_TRACK_CPU = "_base_/schedules/box-cpu_1xb16.py"
# the detector track's CPU sizing (the box track's + RPN width and RoI budget), over no track mixin
DETECTOR_TRACK_CPU = "_base_/schedules/detector-cpu_1xb16.py"
# {setting} of the synthetic leaf configs: R18 from scratch, sized for a 2-core CPU (`full` adds the one-GPU sizing)
_SYNTH_SETTING = "r18-scratch_fpn_synth"  # the schedule is not the leaf's name: its mixins name it


@dataclass(frozen=True)
class DataSource:
    """Where a profile's data are: the default data root (relative to the repository), the generator that makes them
    (a ``tspsis.core.synth.SYNTH_PROFILES`` name; None: data on disk, checked), the full train / val annotation files under
    DATA_ROOT/annotations and the folder of the val images."""

    root: str
    generator: str | None
    train_ann: str = "train.json"
    val_ann: str = "val.json"
    val_images: str = "val"


def _synthetic(name: str) -> DataSource:
    """The synthetic benchmark ``name`` of tspsis.core.synth, generated under data/synth/<name>."""
    return DataSource(f"data/synth/{name}", name)


COCO_2017 = DataSource("data/coco", None, "instances_train2017.json", "instances_val2017.json", "val2017")


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
    # the detector track's shared pre-training starts from the box track's (box classification on the exact boxes)
    # of this many iterations, trained first; None: from scratch
    detector_init_iters: int | None = None
    # the coverage study (tspsis.lab.coverage): seen splits of the same size that cover the unseen categories'
    # shapes and appearances or not (voc and tspsis.core.splits.COVERAGE_SPECS), and the methods trained on each
    # (a method that trains on every mask, the Oracle, is trained once per seed and scored with each split)
    coverage_specs: tuple[str, ...] = ()
    coverage_methods: tuple[str, ...] = ()


# Training ends with one test pass (tspsis.engine.runner); the validation pass the iteration schedules add at the end
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
_COVERAGE_METHODS = (*_FIG8_PAPER, "Oracle")

_CORE = ("Mask R-CNN", "Mask R-CNN + ours", "Oracle")
_CLAIM_VARIANTS = ("ts: deeper teacher", "ts: CRF", "ts: interact")  # claims 4 and 5


def _demo_schedule(profile: str, **rows) -> Schedule:
    """The CPU schedule of `demo`, `demo-all` and `coverage` (``profile``, named in the table note); ``rows``: which
    rows they train (methods, seen_first_k, seeded_methods, coverage_specs, coverage_methods)."""
    return Schedule(
        max_iters=500, ablation_directions=("voc2nonvoc",), seen_split_methods=_FIG8_MASK_RCNN,
        cfg_options=_SHORT_RUN, parallel_runs=2, train_seeds=(0, 1, 2), pretrain_iters=1500,
        note=f"{profile} profile, box-conditioned track: mask heads trained and tested on the ground-truth boxes (no RPN, "
             "detections = the val boxes and labels, score = the mask's mean foreground probability); synthetic "
             "160 px data, ResNet-18 at a quarter width + FPN pre-trained on box classification (no masks), then "
             "500 iterations of 16 images per model on 2 CPU cores; ± = std over training seeds (n in each cell)",
        **rows)


# Smoke test of the whole chain: a couple of iterations, numbers are meaningless.
_TINY = Schedule(
    max_iters=2, methods=dict.fromkeys(_MASK_RCNN_FAMILY, DIRECTIONS), ablation_directions=("voc2nonvoc",),
    seen_first_k=(0, 6), seen_split_methods=_FIG8_MASK_RCNN,
    cfg_options=_SHORT_RUN + ("default_hooks.logger.interval=1",), parallel_runs=2, pretrain_iters=2,
    coverage_specs=("voc", "disjoint-both"), coverage_methods=("Mask R-CNN + ours", "Oracle"),
    note="tiny profile, box-conditioned track: 2 training iterations per model on 16 images; a smoke test, "
         "not a result")
# The README's main job (`make demo`): the box-conditioned track (PROFILE_TRACKS) on 2 CPU cores, every trained
# model from the shared box-classification pre-training (1500 iterations, PRETRAINING), then 500 iterations of
# 16 images (5.3 epochs of the 1500 training images); schedule and options chosen on held-out data (generator
# seed 1; docs/results.md "How the demo's set-up was chosen"), so the rows compare with each other, not
# with the paper. Within about an hour (55.5 min measured, docs/results.md): the rows of the paper's claims, each
# on 3 training seeds — Mask R-CNN, + ours and the Oracle in both directions, the deeper teacher, and r = threshold
# / CRF / interact voc -> non-voc with and without the pseudo-label warm-up (claim 5 under the project's schedule
# and the paper's; Table 4's no-warm-up row is the second's threshold) — plus the untrained Mask GrabCut; every
# other row is in `demo-all`.
_NO_WARMUP_CLAIM5 = ("ts: no warm-up", "ts: CRF, no warm-up", "ts: interact, no warm-up")
_DEMO = _demo_schedule(
    "demo",
    methods={**dict.fromkeys(_CORE, DIRECTIONS), **dict.fromkeys((*_CLAIM_VARIANTS, *_NO_WARMUP_CLAIM5,
                                                                 "Mask GrabCut"), ("voc2nonvoc",))},
    seen_first_k=(0,), seeded_methods=(*_CORE, *_CLAIM_VARIANTS, *_NO_WARMUP_CLAIM5))
# `demo` and every other row the box-conditioned track has (voc -> non-voc, one seed; BoxInst: detector track
# only) and Fig. 8's second seen split. Shares the demo's data and work dir: after `make demo` it trains only the
# rows the demo does not.
_DEMO_ALL = _demo_schedule(
    "demo-all",
    methods={**dict.fromkeys(_CORE, DIRECTIONS),
             **dict.fromkeys((*_MASK_RCNN_FAMILY[3:], *_NO_WARMUP_CLAIM5,
                              *(m for m in _OTHER_METHODS if not m.startswith("BoxInst"))), ("voc2nonvoc",))},
    seen_first_k=(0, 9), seeded_methods=_DEMO.seeded_methods)
# The coverage study on the demo's data, set-up and work dir (its voc rows are the demo's and demo-all's runs): on
# voc and each coverage split (tspsis.core.splits.COVERAGE_SPECS), Mask R-CNN and + ours on 3 training seeds, OPMask
# and + ours on seed 0 (time budget); the Oracle trains on every mask, once per seed, and is scored with each split.
_COVERAGE = _demo_schedule(
    "coverage", methods=dict.fromkeys(_COVERAGE_METHODS, ("voc2nonvoc",)), seen_first_k=(0,),
    seeded_methods=_CORE, coverage_specs=("voc", *COVERAGE_SPECS), coverage_methods=_COVERAGE_METHODS)
# The detector track on 2 CPU cores (`make demo-detector`): the paper's protocol (RPN proposals, sampled RoIs, mask
# AP of the detections) on the demo's data. The shared pre-trained detector (PRETRAINING in the detector track: RPN +
# box head on every category's boxes, 1800 iterations) starts from the box track's box classification (the demo's
# own pre-training, 1500 iterations on the exact boxes: the detector names shapes it does not learn from proposals,
# unseen box AP +7, on held-out data); each row then trains detector + mask head jointly for 600 iterations (the
# lengths and the start chosen on held-out data: docs/results.md, "The detector track"). The core rows on 3 training seeds in both directions; claim 5 (r = threshold / CRF / interact)
# with and without the pseudo-label warm-up, voc -> non-voc, on the first seed (time budget; every seed in
# demo-detector-all).
_DETECTOR_CLAIM5 = ("ts: CRF", "ts: interact", "ts: no warm-up", "ts: CRF, no warm-up", "ts: interact, no warm-up")
_DEMO_DETECTOR = Schedule(
    max_iters=600, ablation_directions=("voc2nonvoc",), seen_first_k=(0,), seen_split_methods=_FIG8_MASK_RCNN,
    methods={**dict.fromkeys(_CORE, DIRECTIONS), **dict.fromkeys(_DETECTOR_CLAIM5, ("voc2nonvoc",))},
    cfg_options=_SHORT_RUN, parallel_runs=2, train_seeds=(0, 1, 2), pretrain_iters=1800, seeded_methods=_CORE,
    detector_init_iters=_DEMO.pretrain_iters,
    note="demo-detector profile, detector track (the paper's protocol): RPN proposals, 64 sampled RoIs per image, "
         "NMS, mask AP of the detections; synthetic 160 px data, ResNet-18 at a quarter width + FPN, a detector "
         "(RPN + box head) pre-trained 1800 iterations on every category's boxes (no masks) from the box track's "
         "1500-iteration box classification, then 600 iterations of 16 images per model (detector and mask head) "
         "on 2 CPU cores; ± = std over training seeds (n in each cell)")
# Every other row of Table 1 in the detector track and claim 5 on every seed (`make demo-detector-all`, after `make
# demo-detector`, whose data, work dir and runs it shares: it trains only the rows that profile does not): voc ->
# non-voc, MaskX R-CNN, Mask GrabCut on the detector's boxes, CPMask, OPMask and + ours, BoxInst and + ours on the
# first seed; claim 5's r = threshold / CRF / interact with and without the pseudo-label warm-up on the 3 training
# seeds. Table 5 is measured on Mask R-CNN + ours (those claim-5 rows), not on BoxInst + ours where the paper ran
# it: BoxInst reaches 3 unseen box AP in the 600 iterations of a row (its FCOS head starts from scratch; the
# reference run, docs/results.md), too little for its r(.) variants to say anything.
_BOXINST_TABLE5 = ("BoxInst + ours: CRF", "BoxInst + ours: interact")
_DEMO_DETECTOR_ALL = replace(
    _DEMO_DETECTOR,
    methods={**_DEMO_DETECTOR.methods,
             **dict.fromkeys((m for m in _OTHER_METHODS if m not in _BOXINST_TABLE5), ("voc2nonvoc",))},
    seeded_methods=(*_CORE, *_DETECTOR_CLAIM5),
    note=_DEMO_DETECTOR.note.replace("demo-detector profile", "demo-detector-all profile"))
# Smoke test of the detector track (its shared pre-trained detector, proposals, NMS, detection-based evaluation): the
# rows of demo-detector-all, 2 iterations each on tiny's data; numbers are meaningless.
_TINY_DETECTOR = Schedule(
    max_iters=2, methods=_DEMO_DETECTOR_ALL.methods, ablation_directions=("voc2nonvoc",), seen_first_k=(0,),
    seen_split_methods=_FIG8_MASK_RCNN, cfg_options=_TINY.cfg_options, parallel_runs=2, pretrain_iters=2,
    detector_init_iters=_TINY.pretrain_iters,
    note="tiny-detector profile, detector track: 2 training iterations per model (and of the shared detector) on 16 "
         "images; a smoke test, not a result")
_FULL = Schedule(
    max_iters=None, methods=None, ablation_directions=DIRECTIONS, seen_first_k=(0, 6, 12),
    seen_split_methods=_FIG8_PAPER, cfg_options=(), parallel_runs=1,
    note="full profile: synthetic `full` data (20000 train images), R18-FPN from scratch, "
         "the GPU configs' schedule")
_COCO = Schedule(
    max_iters=None, methods=None, ablation_directions=DIRECTIONS, seen_first_k=(0, 10, 20, 30, 40),
    seen_split_methods=_FIG8_PAPER, cfg_options=(), parallel_runs=1,
    note="coco profile: COCO 2017, R50-FPN, the paper's schedules")


@dataclass(frozen=True)
class Profile:
    """One profile: everything that differs between ``--profile tiny``, ``demo``, ``full``, ``coco`` ..."""

    name: str
    data: DataSource                          # the data it runs on
    setting: str                              # {setting} of the leaf configs' names (tspsis.lab.registry.Method)
    track: str                                # the track a call that names none runs (resolve, run, Context)
    track_mixins: Mapping[str, tuple[str, ...]]  # per track it has: mixins after the variant's (paths under configs/)
    schedule: Schedule                        # how much of the paper it runs, and how long each training is
    sizing: tuple[str, ...] = ()              # hardware sizing: mixins merged last
    needs_gpu: str | None = None              # why it cannot run on a CPU (require_device's message); None: it can
    # Wall seconds of one training run (start-up, training, test pass), for the estimate Context.run_all prints
    # before training (estimate_seconds: cached runs' own timing is preferred); None: not measured
    seconds_per_run: float | None = None
    # A profile that runs more rows on another profile's data: the same data (default data root, generated data)
    # and the same default work dir, so the runs both schedule are trained once (a run's key does not name its
    # profile)
    shares_data_of: str | None = None
    # The tracks whose rows get their heads' short-schedule departures (tspsis.lab.registry.Method.adaptations: C x
    # rate of class logits, pseudo-label warm-up), chosen on held-out data for the CPU schedules
    adapted_tracks: tuple[str, ...] = ("box_conditioned",)

    def __post_init__(self) -> None:
        check_choice("track", self.track, TRACKS)
        for track in self.track_mixins:
            check_choice("track", track, TRACKS)
        if self.track not in self.track_mixins:
            raise ValueError(f"profile {self.name!r}: its default track {self.track!r} has no track_mixins entry")


# The CPU profiles run the box-conditioned track: a from-scratch detector cannot be trained on 2 cores in minutes,
# the mask heads (the paper's subject) can. `full` (GPU) and `coco` run the paper's detector track.
_CPU_TRACKS = {"detector": (), "box_conditioned": (BOX_TRACK_MIXIN, _BOX_TRACK_CPU)}
# The detector-track CPU profiles: the detector track with its CPU sizing (and the box-conditioned track of the demo)
_DETECTOR_TRACKS = {"detector": (DETECTOR_TRACK_CPU,), "box_conditioned": _CPU_TRACKS["box_conditioned"]}
# Wall seconds of one training run (start-up, training, test pass) per profile, for the estimate Context.run_all
# prints before training; cached runs' own timing (metrics.json run.wall_seconds_total) is preferred when there
# is some. demo: a 500-iteration box-conditioned run with the fast path and one thread, two at a time on 2 CPU
# cores: median 229 s over the 28 trainings of the reference run (docs/results.md, scripts/run_timing.py).
# tiny: one run of the tiny profile on 2 shared cores (~19 s). full / coco: not measured yet (None: no estimate).
PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("tiny", _synthetic("tiny"), _SYNTH_SETTING, "box_conditioned", _CPU_TRACKS, _TINY, seconds_per_run=20.0),
    Profile("demo", _synthetic("demo"), _SYNTH_SETTING, "box_conditioned", _CPU_TRACKS, _DEMO, seconds_per_run=229.0),
    Profile("demo-all", _synthetic("demo"), _SYNTH_SETTING, "box_conditioned", _CPU_TRACKS, _DEMO_ALL,
            seconds_per_run=229.0, shares_data_of="demo"),
    Profile("coverage", _synthetic("demo"), _SYNTH_SETTING, "box_conditioned", _CPU_TRACKS, _COVERAGE,
            seconds_per_run=229.0, shares_data_of="demo"),
    Profile("tiny-detector", _synthetic("tiny"), _SYNTH_SETTING, "detector", _DETECTOR_TRACKS, _TINY_DETECTOR,
            seconds_per_run=20.0, shares_data_of="tiny", adapted_tracks=TRACKS),
    Profile("demo-detector", _synthetic("demo"), _SYNTH_SETTING, "detector",
            _DETECTOR_TRACKS, _DEMO_DETECTOR,
            seconds_per_run=None, shares_data_of="demo", adapted_tracks=TRACKS),
    Profile("demo-detector-all", _synthetic("demo"), _SYNTH_SETTING, "detector",
            _DETECTOR_TRACKS, _DEMO_DETECTOR_ALL,
            seconds_per_run=None, shares_data_of="demo", adapted_tracks=TRACKS),
    Profile("full", _synthetic("full"), _SYNTH_SETTING, "detector",
            {"detector": (), "box_conditioned": (BOX_TRACK_MIXIN,)},  # box-conditioned: + the one-GPU sizing
            _FULL, sizing=("_base_/schedules/synth-gpu_1xb16-3000it.py",),
            needs_gpu="its configs (+synth-gpu_1xb16-3000it) train with AMP on a GPU, 20000 images"),
    Profile("coco", COCO_2017, "r50_fpn_coco", "detector", {"detector": ()}, _COCO,
            needs_gpu="R50-FPN on COCO 2017 at the paper's schedules, 12 epochs of 118k images per model"),
)}


def get_profile(profile: str) -> Profile:
    """``PROFILES[profile]``; a ValueError naming the profiles for an unknown name."""
    check_choice("profile", profile, PROFILES)
    return PROFILES[profile]


def require_device(profile: str, gpus: int | None = None) -> int:
    """The number of processes ``gpus`` means (``launch.resolve_gpus``: None = every visible GPU, or the CPU);
    raises ``launch.DeviceError`` at once, naming the fix, if ``profile`` needs a GPU (``Profile.needs_gpu``) and
    none would be used. Call it before generating data or starting runs."""
    needs_gpu = get_profile(profile).needs_gpu
    resolved = resolve_gpus(gpus)
    if needs_gpu is not None and resolved == 0:
        import torch

        if gpus == 0 and torch.cuda.is_available():
            why = "gpus=0 asks for the CPU; leave gpus unset (every visible GPU) or pass --gpus 1"
        else:
            why = ("none is visible (torch.cuda.is_available() is False); use --profile demo on a CPU "
                   "(or --profile tiny for a smoke test)")
        raise DeviceError(f"profile {profile!r} needs a GPU ({needs_gpu}): {why}")
    return resolved


def estimate_seconds(profile: str, work_dir: str | Path | None = None) -> tuple[float | None, str]:
    """Seconds one training run of ``profile`` takes, and where the number comes from: the median
    ``run.wall_seconds_total`` of the finished runs of that profile in ``work_dir``, else ``Profile.seconds_per_run``."""
    measured = [float(seconds) for _, experiment, metrics in (run_records(work_dir) if work_dir else ())
                if experiment.get("profile") == profile
                and (seconds := metrics.get("run", {}).get("wall_seconds_total"))]
    if measured:
        measured.sort()
        return measured[len(measured) // 2], f"median of {len(measured)} finished {profile} runs here"
    seconds = get_profile(profile).seconds_per_run
    return seconds, (f"the {profile} profile's measured seconds_per_run" if seconds else
                     f"no timing measured for the {profile} profile yet")


def data_profile(profile: str) -> str:
    """The profile whose data ``profile`` runs on (``Profile.shares_data_of``; itself for most)."""
    return get_profile(profile).shares_data_of or profile


def default_data_root(profile: str) -> Path:
    """``Profile.data.root`` under the repository: data/synth/<data profile> for the synthetic profiles, data/coco
    for ``coco``."""
    return REPO_ROOT / get_profile(profile).data.root


def default_work_dir(profile: str) -> Path:
    """work_dirs/<data profile>: where a profile's runs are cached (shared with the profile whose data it runs on)."""
    return REPO_ROOT / "work_dirs" / data_profile(profile)


def source_names(profile: str) -> tuple[str, str]:
    """Full train / val annotation file names under DATA_ROOT/annotations (COCO 2017 names for coco)."""
    data = get_profile(profile).data
    return data.train_ann, data.val_ann


def seen_specs(profile: str) -> list[str]:
    """Seen-set specs of Fig. 8 for a profile: ``voc`` and ``first-K`` (voc + the first K non-voc categories)."""
    return ["voc" if k == 0 else f"first-{k}" for k in get_profile(profile).schedule.seen_first_k]


def split_specs(profile: str) -> list[str]:
    """Every seen split a profile's notebooks use: Fig. 8's (``seen_specs``) and the coverage study's."""
    return list(dict.fromkeys([*seen_specs(profile), *get_profile(profile).schedule.coverage_specs]))


def method_seeds(profile: str, method: str, train_seeds: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The training seeds of ``method``: every one of ``train_seeds`` (None: ``Schedule.train_seeds``) for the
    profile's ``seeded_methods`` (all methods when None), the first one for the others (time budget)."""
    schedule = get_profile(profile).schedule
    seeds = schedule.train_seeds if train_seeds is None else tuple(train_seeds)
    seeded = schedule.seeded_methods
    return seeds if seeded is None or method in seeded else seeds[:1]
