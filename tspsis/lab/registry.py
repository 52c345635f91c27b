"""The registry of the paper's rows: ``METHODS`` maps a row label of the paper's tables to a leaf config under configs/
(a template with ``{setting}``, the backbone/neck/data part chosen by the profile: ``Profile.setting``, and
``{direction}``, ``voc2nonvoc`` or ``nonvoc2voc``) plus the mixins of its variant (``configs/_base_/ts_variants/``).

A run's config is ``Method.config(profile, direction, track)``: the leaf, then the variant's mixins, the track's
(``Profile.track_mixins``: ``detector``, the paper's protocol, adds none; ``box_conditioned`` adds
``_base_/tracks/box-conditioned.py`` and its CPU sizing) and the profile's hardware sizing (``Profile.sizing``:
``full`` = one GPU), merged in that order (``tspsis.engine.config.load_config``). Calls that name no track use
``Profile.track``. A row whose files do not exist, or that lacks the track, is simply not available
(``available``); adding a method is one ``Method(...)`` line.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tspsis.core.paper import DIRECTIONS
from tspsis.core.paths import CONFIGS, REPO_ROOT
from tspsis.core.validate import check_choice
from tspsis.lab.profiles import DETECTOR_TRACK_CPU, TRACKS, get_profile

__all__ = ["CONFIGS", "METHODS", "PRETRAINING", "ConfigSpec", "Method", "available", "config", "config_path",
           "unavailable_reason"]


@dataclass(frozen=True)
class ConfigSpec:
    """A run's config: a leaf config file and the mixins merged over it, in order (``tspsis.engine.config.load_config``;
    ``tspsis train LEAF --mixin M1 --mixin M2 ...`` on the command line)."""

    leaf: Path
    mixins: tuple[Path, ...] = ()

    @property
    def name(self) -> str:
        """``<leaf stem>[+<mixin stem>...]`` (``tspsis.engine.config.composed_name``): what this config trains."""
        from tspsis.engine.config import composed_name

        return composed_name(self.leaf, self.mixins)

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.leaf, *self.mixins)

    def missing(self) -> list[Path]:
        return [f for f in self.files if not f.is_file()]

    def command(self, mode: str = "train") -> str:
        """The ``tspsis`` command line that trains (or tests: add the checkpoint) this config as its files define it
        (their schedule, their data root, no pre-trained weights), paths relative to the repository, the work dir
        ``work_dirs/<name>``. Not the run a profile makes of a row: that one also sets the iterations, the data
        root, the training seed and the profile's pre-trained weights (``tspsis.lab.resolve``)."""
        def rel(path: Path) -> str:
            return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
        return " ".join(["tspsis", mode, rel(self.leaf), *(f"--mixin {rel(m)}" for m in self.mixins),
                         f"--work-dir work_dirs/{self.name}"])


@dataclass(frozen=True)
class Method:
    """One row of the paper's tables and the config that implements it here: a leaf config (``template``, under
    configs/, with ``{setting}`` and ``{direction}``) and the mixins of its variant."""

    label: str      # row label as in the paper (tspsis.core.paper.TABLE1 keys)
    template: str   # leaf config path under configs/ without .py, with {setting} and {direction}
    mixins: tuple[str, ...] = ()  # the variant: mixins (paths under configs/) merged over the leaf, in order
    settings: Mapping[str, str] = field(default_factory=dict)  # per-profile {setting} where Profile.setting differs
    sizing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # per-profile sizing where Profile.sizing differs
    tracks: tuple[str, ...] = TRACKS  # the tracks this method has
    untrained_tracks: tuple[str, ...] = ()  # tracks where nothing of the method learns: 1 iteration, no sizing
    why_not_tracks: str = ""  # why the method lacks the tracks it lacks (printed in the tables)
    track_mixins: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # per track, after the track's own
    # the CPU schedules' departures for this head (C x rate of class logits, pseudo-label warm-up): merged after
    # the track's mixins in the tracks a profile adapts (Profile.adapted_tracks)
    adaptations: tuple[str, ...] = ()
    # a profile's track mixins this architecture replaces by its own (another detector's sizing: BoxInst's FCOS
    # heads instead of the two-stage RPN and RoI heads)
    sizing_substitutes: Mapping[str, str] = field(default_factory=dict)

    def config_path(self, profile: str, direction: str) -> Path:
        """The leaf config file (may not exist)."""
        setting = self.settings.get(profile, get_profile(profile).setting)
        check_choice("direction", direction, DIRECTIONS)
        return CONFIGS / (self.template.format(setting=setting, direction=direction) + ".py")

    def lacks_track(self, profile: str, track: str) -> str | None:
        """Why this method has no config in ``track`` for ``profile``, or None if it has one."""
        track_mixins = get_profile(profile).track_mixins
        check_choice("track", track, TRACKS)
        if track not in self.tracks:
            return self.why_not_tracks or f"{self.label!r} has no {track} track (tracks: {', '.join(self.tracks)})"
        if track not in track_mixins:
            return f"the {track} track is not defined for the {profile} profile"
        return None

    def config(self, profile: str, direction: str, track: str = "detector") -> ConfigSpec:
        """Leaf + variant mixins + track mixins + hardware sizing for a profile, direction and track; ValueError if
        this method or profile has no such track."""
        leaf = self.config_path(profile, direction)
        if (problem := self.lacks_track(profile, track)) is not None:
            raise ValueError(problem)
        track_mixins = tuple(self.sizing_substitutes.get(m, m) for m in get_profile(profile).track_mixins[track])
        if track in self.untrained_tracks:  # nothing trains: the track's own mixin, not its network sizing
            track_mixins = track_mixins[:1]
        adaptations = self.adaptations if track in get_profile(profile).adapted_tracks else ()
        mixins = (*self.mixins, *track_mixins, *self.track_mixins.get(track, ()), *adaptations,
                  *self.sizing.get(profile, get_profile(profile).sizing))
        return ConfigSpec(leaf, tuple(CONFIGS / m for m in mixins))


_TS = "mask_rcnn_ts/ts-mask-rcnn_{setting}-{direction}"  # Mask R-CNN + ours, the leaf of its variants
_TS_BOXINST = "boxinst/ts-boxinst_{setting}-{direction}"
_VARIANT = "_base_/ts_variants/{}.py".format
# Every class-specific mask head of an adapted track (Profile.adapted_tracks: the CPU profiles' short schedules; the
# Oracle, the student Fs of every "+ ours" row) learns its C-channel logit layer at C x the base rate: each class
# channel gets ~1/C of the mask-loss gradient (configs/_base_/class_specific/logits-lr.py; chosen on held-out data,
# README). Not MaskX: its class weights are generated from the box head's by a shared transfer function. Not the
# paper's schedules (full, coco detector track).
_LOGITS_LR = "_base_/class_specific/logits-lr.py"
_CLASS_SPECIFIC = dict(adaptations=(_LOGITS_LR,))
# Teacher-student rows of an adapted track: the student learns unseen objects from half-way through (measured on
# held-out data, docs/results.md); the "no warm-up" rows are the paper's setting (claim 5 is measured both ways).
_TS_OPTIONS = dict(adaptations=(_VARIANT("warmup-half"), _LOGITS_LR))
# BoxInst keeps its own 90k-iteration multi-scale schedule and, on one GPU, its own lr; it has no box-conditioned
# track; on a CPU its own sizing replaces the two-stage detector's
_BOXINST = dict(sizing={"full": ("_base_/schedules/boxinst-synth-gpu_1xb16-3000it.py",)}, tracks=("detector",),
                why_not_tracks="detector track only: BoxInst's masks come from dynamic filters that its FCOS head "
                               "predicts per location, not from RoI features, so a given box has no mask head input "
                               "of its own; choosing one location per box would be another model than the paper's",
                sizing_substitutes={DETECTOR_TRACK_CPU: "_base_/schedules/boxinst-cpu_1xb16.py"})
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
    Method("ts: CRF, no warm-up", _TS, (_VARIANT("crf"),), **_CLASS_SPECIFIC),          # claim 5, paper's schedule
    Method("ts: interact, no warm-up", _TS, (_VARIANT("interact"),), **_CLASS_SPECIFIC),
)}
# The shared pre-training of a profile (Schedule.pretrain_iters; not a table row): the class-agnostic baseline's leaf,
# track and sizing with its mask head removed, trained on the boxes and labels of every category (no mask is read),
# the analogue of the paper's ImageNet initialisation. Every trained row of the profile starts from its weights. In
# the box-conditioned track the box head classifies the given boxes; in the detector track the whole detector
# (RPN + box head) learns to detect every category, and its box AP on the val images is measured.
PRETRAINING = Method("pretraining: box classification", "mask_rcnn/psis-mask-rcnn_{setting}-{direction}",
                     track_mixins={"box_conditioned": ("_base_/pretrain/box_classification.py",),
                                   "detector": ("_base_/pretrain/detection.py",)})
_PRETRAIN_DIRECTION = "voc2nonvoc"  # boxes and labels of every category: the same data in both directions


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
    """The leaf config and mixins of ``method`` for a direction, profile and track (None: ``Profile.track``);
    ValueError if the method or profile has no such track."""
    return _method(method).config(profile, direction, get_profile(profile).track if track is None else track)


def unavailable_reason(method: str, direction: str, profile: str, track: str | None = None) -> str | None:
    """Why ``available`` is False (no such track, or the files that do not exist), None if it is True."""
    default_track = get_profile(profile).track
    check_choice("direction", direction, DIRECTIONS)
    track = default_track if track is None else track
    if (problem := _method(method).lacks_track(profile, track)) is not None:
        return problem
    missing = config(method, direction, profile, track).missing()
    return f"no {', '.join(str(f.relative_to(CONFIGS)) for f in missing)}" if missing else None


def available(method: str, direction: str, profile: str, track: str | None = None) -> bool:
    """True if the repository has the config (leaf and mixins) of this row for this direction, profile and track
    (None: ``Profile.track``)."""
    return unavailable_reason(method, direction, profile, track) is None
