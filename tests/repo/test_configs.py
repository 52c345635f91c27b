"""The configs under configs/: at most 70 files, one folder per method with its README and metafile, mmdet names;
every file resolves; every paper row of ``experiments.METHODS`` resolves, in every profile, direction and track, to
the model and data its name says (the schedule: its sizing mixins); the experiments of the old flat layout resolve as before
(scripts/check_config_moves.py); the Mask R-CNN family builds and trains one step (CPU); every leaf of the other
methods, alone and with each of its mixins, says what its name says (the synthetic Mask GrabCut, MaskX and OPMask
leaves train one step)."""
import copy
import functools
import importlib.util
import math
import re
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("mmdet")
from mmengine.config import Config  # noqa: E402

from tspsis import lab as experiments  # noqa: E402
from tspsis.engine.config import merge_mixin  # noqa: E402
from tspsis.lab.profiles import DETECTOR_TRACK_CPU  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
FILES = sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.py"))
SMOKE = "mask_rcnn/mask-rcnn_r18-scratch_fpn_smoke.py"  # the stack's smoke test, checked in test_mmdet_stack.py
LEAVES = [f for f in FILES if not f.startswith("_base_/") and f != SMOKE]
# method folder -> the algorithms (file-name prefixes) whose leaves it holds
FOLDERS = {"mask_rcnn": ("psis-mask-rcnn", "oracle-mask-rcnn"), "mask_rcnn_ts": ("ts-mask-rcnn",),
           "opmask": ("opmask", "ts-opmask"), "boxinst": ("psis-boxinst", "ts-boxinst"), "maskx_rcnn": ("maskx-rcnn",),
           "grabcut": ("grabcut-faster-rcnn",), "cpmask": ("cpmask",)}
# {algo}_{backbone}_{neck}_{data}-{direction}.py: what is invariant; the schedule and hardware sizing are named by the
# mixins that set them (mmdet's NxbB-schedule token, e.g. box-cpu_1xb16.py) and by the run's composed name
LEAF_NAME = re.compile(r"(?P<algo>[a-z-]+)_(?P<backbone>r50|r18-scratch)_fpn_(?P<data>coco|synth)"
                       r"-(?P<direction>voc2nonvoc|nonvoc2voc)\.py")

# What each row's model is: (where its head type sits, the type)
HEAD_TYPES = {"Mask R-CNN": ("roi_head", "PartialRoIHead"), "Mask R-CNN + ours": ("roi_head", "TeacherStudentRoIHead"),
              "MaskX R-CNN": ("roi_head", "MaskXRoIHead"), "Mask GrabCut": ("roi_head", "StandardRoIHead"),
              "CPMask": ("roi_head", "CPMaskRoIHead"), "OPMask": ("roi_head", "OPMaskRoIHead"),
              "OPMask + ours": ("roi_head", "TeacherStudentOPMaskRoIHead"),
              "BoxInst": ("mask_head", "PartialBoxInstMaskHead"),
              "BoxInst + ours": ("mask_head", "TeacherStudentBoxInstMaskHead"),
              "Oracle": ("roi_head", "PartialRoIHead")}  # fully_supervised: every mask, and given-box prediction
# The variants: label -> (the Table 1 row they vary, r)
VARIANTS = {"ts: no post-processing": ("Mask R-CNN + ours", "none"), "ts: CRF": ("Mask R-CNN + ours", "crf"),
            "ts: interact": ("Mask R-CNN + ours", "interact"),
            "ts: high-res teacher": ("Mask R-CNN + ours", "threshold"),
            "ts: deeper teacher": ("Mask R-CNN + ours", "threshold"), "ts: no warm-up": ("Mask R-CNN + ours", "threshold"),
            "ts: CRF, no warm-up": ("Mask R-CNN + ours", "crf"),
            "ts: interact, no warm-up": ("Mask R-CNN + ours", "interact"),
            "BoxInst + ours: CRF": ("BoxInst + ours", "crf"),
            "BoxInst + ours: interact": ("BoxInst + ours", "interact")}
RUNS = [(method, direction, profile, track) for method in experiments.METHODS for profile in experiments.PROFILES
        for track in experiments.TRACKS for direction in experiments.DIRECTIONS
        if experiments.available(method, direction, profile, track)]
MASK_RCNN_FAMILY = ("Mask R-CNN", "Mask R-CNN + ours", "Oracle", *[v for v, (row, _) in VARIANTS.items()
                                                                   if row == "Mask R-CNN + ours"])

pytestmark = pytest.mark.usefixtures("single_thread")


@functools.cache
def _leaf(path: Path) -> Config:
    return Config.fromfile(str(path))


def resolve(spec: experiments.ConfigSpec) -> Config:
    """The config of a ConfigSpec as tspsis.engine.config.load_config builds it (each leaf parsed once per session)."""
    cfg = copy.deepcopy(_leaf(spec.leaf))
    for mixin in spec.mixins:
        merge_mixin(cfg, mixin)
    return cfg


def _flat(node, prefix=()):
    """(path, value) of every setting in a config dict (an empty dict sets nothing)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "_delete_":
                yield from _flat(value, (*prefix, key))
    else:
        yield prefix, node


def _get(cfg, path):
    for key in path:
        cfg = cfg[key]
    return cfg


def _removed(cfg, path) -> bool:
    """True if a part on ``path`` is None in ``cfg``: removed by the config (a mixin's settings of it are left out)."""
    return any(_get(cfg, path[:k]) is None for k in range(1, len(path)))


# --------------------------------------------------------------------------------------------------- layout
def test_at_most_72_config_files_and_one_folder_per_method():
    assert len(FILES) <= 72, len(FILES)  # 70 before BoxInst's CPU sizing and the CPU sizings' shared base
    assert {f.split("/")[0] for f in LEAVES} == set(FOLDERS)


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_method_folder_has_every_leaf_a_readme_and_a_metafile(config_names, folder):
    names = {p.name for p in (CONFIGS / folder).glob("*.py")} - {Path(SMOKE).name}
    assert names == set().union(*(config_names(algo) for algo in FOLDERS[folder]))
    assert all(LEAF_NAME.fullmatch(name) for name in names)
    readme = (CONFIGS / folder / "README.md").read_text()
    assert "paper" in readme.lower() and "papermill_runs" in readme
    metafile = yaml.safe_load((CONFIGS / folder / "metafile.yml").read_text())
    listed = [model["Config"] for model in metafile["Models"]]
    assert sorted(listed) == sorted(f"configs/{folder}/{name}" for name in names)
    assert all((REPO / path).is_file() for path in listed)


@pytest.mark.parametrize("path", FILES)
def test_every_config_file_resolves(path):
    cfg = Config.fromfile(str(CONFIGS / path))  # leaves, _base_ files and mixins alike
    if path in LEAVES:
        assert "tspsis.plugin" in cfg.custom_imports.imports
        assert {"train_dataloader", "test_evaluator", "optim_wrapper", "param_scheduler"} <= set(cfg)


def _check_config_moves():
    spec = importlib.util.spec_from_file_location("check_config_moves", REPO / "scripts" / "check_config_moves.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # resolves 103 configs twice (~40 s)
def test_every_experiment_of_the_old_layout_resolves_as_before():
    """The acceptance check of the move: each of the 103 old top-level configs (snapshot) = its leaf + mixins,
    model, data and schedule, up to the pseudo_labeler rename; METHODS maps every old row to the same."""
    moves = _check_config_moves()
    snapshot = moves.load_snapshot()
    assert len(snapshot) == 103
    for old, resolved in sorted(snapshot.items()):
        leaf, mixins = moves.new_location(old)
        assert moves.compare(resolved, moves.resolve_new(leaf, mixins)) == [], old
    assert moves.check_registry() == []


def test_a_mixin_merges_like_a_base_and_delete_replaces(tmp_path):
    leaf = CONFIGS / "mask_rcnn" / "psis-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"
    (tmp_path / "m1.py").write_text("model = dict(roi_head=dict(mask_head=dict(num_convs=2)))\n"
                                    "param_scheduler = [dict(type='ConstantLR', factor=1.0)]\n")
    (tmp_path / "m2.py").write_text("model = dict(roi_head=dict(mask_head=dict(_delete_=True, type='X', a=1), "
                                    "new=dict(_delete_=True, b=2)))\n")
    cfg = copy.deepcopy(_leaf(leaf))
    merge_mixin(cfg, tmp_path / "m1.py")
    assert cfg.model.roi_head.mask_head.num_convs == 2 and cfg.model.roi_head.mask_head.class_agnostic  # merged
    assert cfg.param_scheduler == [dict(type="ConstantLR", factor=1.0)]  # a list replaces
    merge_mixin(cfg, tmp_path / "m2.py")
    assert cfg.model.roi_head.mask_head.to_dict() == dict(type="X", a=1)  # _delete_: replaced
    assert cfg.model.roi_head.new.to_dict() == dict(b=2)  # nothing to delete: no _delete_ key left behind
    assert cfg.model.roi_head.type == "PartialRoIHead"


# ------------------------------------------------------------------------------------------ every paper row
def test_every_row_has_every_profile_direction_and_its_tracks():
    for method, row in experiments.METHODS.items():
        for profile in experiments.PROFILES:
            for direction in experiments.DIRECTIONS:
                assert (method, direction, profile, "detector") in RUNS
                boxinst = method.startswith("BoxInst")
                assert ((method, direction, profile, "box_conditioned") in RUNS) == (not boxinst and profile != "coco")


@pytest.mark.parametrize("method,direction,profile,track", RUNS, ids=["|".join(r) for r in RUNS])
def test_row_resolves_to_what_its_name_says(assert_direction_files, method, direction, profile, track):
    spec = experiments.config(method, direction, profile, track)
    cfg = resolve(spec)
    model = cfg.model
    row, r = VARIANTS.get(method, (method, "threshold" if "+ ours" in method else None))
    where, head_type = HEAD_TYPES[row]
    assert model[where].type == head_type
    assert spec.leaf.parent.name == {"Mask R-CNN + ours": "mask_rcnn_ts", "Oracle": "mask_rcnn"}.get(
        row, spec.leaf.parent.name)

    # the method
    if row in ("Mask R-CNN", "CPMask", "OPMask"):
        assert model.roi_head.mask_head.class_agnostic
    if row == "Mask GrabCut":
        assert model.type == "MaskGrabCut" and model.roi_head.mask_head is None
    if row == "OPMask + ours":
        assert model.roi_head.mask_head.class_agnostic is False and model.roi_head.bbox_head.type == "CAMBBoxHead"
    # the variant: r of Eq. 4/6 and the teacher of Table 3
    labeler = model[where].get("pseudo_labeler")
    assert (labeler is None) == (r is None)
    if r is not None:
        assert labeler.type == "PseudoLabeler" and labeler.post_process.type == r
        assert labeler.clean == (r != "none")
        assert not any(k in model[where] for k in ("pseudo_mask", "clean_pseudo", "pseudo_warmup_iters",
                                                    "pseudo_weighting"))  # the old interface is gone
    if where == "roi_head" and "+ ours" in row:
        teacher = model.roi_head.teacher_head
        assert teacher.get("num_convs", 4) == (12 if method == "ts: deeper teacher" else 4)
        assert teacher.get("upsample_cfg", {}).get("scale_factor", 2) == (4 if method == "ts: high-res teacher" else 2)
    image_keeping = model.data_preprocessor.type == "ImageKeepingDetDataPreprocessor"
    assert image_keeping == method.startswith("ts: CRF")

    # the direction: seen-category masks only (the oracle: every mask), scored on the direction's unseen categories
    assert_direction_files(cfg, f"-{direction}", train_masks="all" if row == "Oracle" else "seen")
    assert direction in spec.leaf.name

    # the data and the hardware
    coco = profile == "coco"
    assert model.backbone.depth == (50 if coco else 18)
    assert cfg.data_root == ("data/coco/" if coco else "data/synth/demo/")
    if coco:
        assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16 (Sec. 5.1)
        if row.startswith("BoxInst"):
            assert cfg.train_cfg.max_iters == 90000 and cfg.optim_wrapper.optimizer.lr == 0.01
        else:
            assert cfg.train_cfg.max_epochs == 12 and cfg.param_scheduler[1].milestones == [8, 11]
            assert cfg.param_scheduler[0].end == 500 and cfg.optim_wrapper.optimizer.lr == 0.02
    elif track == "detector" and DETECTOR_TRACK_CPU in experiments.PROFILES[profile].track_mixins[track]:
        # the detector track's CPU sizing: detector-cpu_1xb16, BoxInst's own boxinst-cpu_1xb16 (its lr)
        boxinst = row.startswith("BoxInst")
        assert cfg.optim_wrapper.type == "CPUBF16OptimWrapper" and cfg.train_dataloader.batch_size == 16
        assert cfg.optim_wrapper.optimizer.lr == (0.01 if boxinst else 0.02)
        assert (model.bbox_head if boxinst else model.rpn_head).feat_channels == 32
        assert model.neck.out_channels == 32 and model.backbone.base_channels == 16
    elif track == "detector":  # the box-conditioned track's schedule is its own (box-cpu_1xb16.py)
        gpu = profile == "full"
        assert (cfg.optim_wrapper.type == "AmpOptimWrapper") == gpu
        assert cfg.train_dataloader.batch_size == (16 if gpu else 4)
        assert cfg.train_cfg.max_iters == (3000 if gpu else 300)
        assert cfg.optim_wrapper.optimizer.lr == (0.02 if gpu and not row.startswith("BoxInst") else 0.01)
    if "rpn_head" in model:
        assert model.test_cfg.rpn.max_per_img == 512 and model.test_cfg.rcnn.max_per_img == 150  # Sec. 5.1

    # the track: every setting of its mixins is in the config (unless a later mixin sets it again)
    substitutes = experiments.METHODS[method].sizing_substitutes
    expected = tuple(substitutes.get(m, m) for m in experiments.PROFILES[profile].track_mixins[track])
    if track in experiments.METHODS[method].untrained_tracks:
        expected = expected[:1]  # nothing trains (GrabCut on given boxes): the track without its network sizing
        if profile in ("tiny", "demo"):
            assert cfg.train_dataloader.batch_size == 4  # the leaf's: the CPU sizing is not merged
    track_mixins = [m for m in spec.mixins if m.relative_to(CONFIGS).as_posix() in expected]
    assert len(track_mixins) == len(expected)
    # the teacher-student rows of an adapted track (the CPU profiles' box-conditioned track, demo-detector's both)
    # learn unseen objects from half-way through
    if labeler is not None and where == "roi_head":
        warm = track in experiments.PROFILES[profile].adapted_tracks and not method.endswith("no warm-up")
        assert labeler.warmup_iters == (150 if warm else 0)
    later = set()
    for mixin in reversed(spec.mixins):
        content = Config.fromfile(str(mixin)).to_dict()
        paths = dict(_flat(content))
        if mixin in track_mixins:
            for path, value in paths.items():
                if path not in later and not _removed(cfg, path):
                    assert _get(cfg, path) == value, (mixin.name, path)
        later |= set(paths)
    if track == "box_conditioned":
        detector = resolve(experiments.config(method, direction, profile, "detector"))
        assert detector.to_dict() != cfg.to_dict()


@pytest.mark.parametrize("method", sorted(experiments.METHODS))
def test_the_directions_share_the_model(method):
    for profile in ("coco", "demo"):
        models = [resolve(experiments.config(method, d, profile, "detector")).model.to_dict()
                  for d in experiments.DIRECTIONS]
        assert models[0] == models[1]


# ------------------------------------------------------------------------------------ builds and training
@pytest.mark.slow  # builds and steps models
@pytest.mark.parametrize("profile", ["coco", "demo"])
@pytest.mark.parametrize("method", MASK_RCNN_FAMILY)
def test_mask_rcnn_family_builds(load_config, build_model, method, profile):
    spec = experiments.config(method, "voc2nonvoc", profile, "detector")
    model = build_model(load_config(spec.leaf, spec.mixins))
    head = model.roi_head
    if "ours" in method or method.startswith("ts: "):
        assert len(head.teacher_head.convs) == (12 if method == "ts: deeper teacher" else 4)
        feats = torch.zeros(1, head.mask_head.in_channels, 14, 14)
        assert head.teacher_head(feats).shape[-1] == (56 if method == "ts: high-res teacher" else 28)
    else:
        assert head.mask_head.class_agnostic == (method == "Mask R-CNN")


def random_rectangles(num_classes: int, size: int = 64, all_masks: bool = False) -> tuple[list, list]:
    """Objects and images of two size x size images with three random rectangles each (np.random.default_rng(0)):
    per image (box xyxy, label, has_mask) per object, the second one box-only unless all_masks, and a
    (3, size, size) uint8 noise image."""
    import numpy as np

    rng = np.random.default_rng(0)
    objects, images = [], []
    for _ in range(2):
        boxes = []
        for _ in range(3):
            x0, y0 = rng.integers(0, size // 2, 2)
            w, h = rng.integers(12, size // 2, 2)
            boxes.append((x0, y0, x0 + w, y0 + h))
        labels = rng.integers(0, num_classes, 3)
        objects.append(list(zip(boxes, labels, (True, all_masks, True))))
        images.append(rng.integers(0, 256, (3, size, size), dtype=np.uint8))
    return objects, images


@pytest.mark.slow  # builds and steps models
@pytest.mark.parametrize("method", MASK_RCNN_FAMILY)
def test_synthetic_mask_rcnn_family_trains_one_step(load_config, build_model, partial_batch, train_one_step, method):
    spec = experiments.config(method, "voc2nonvoc", "demo", "detector")
    cfg = load_config(spec.leaf, spec.mixins)
    objects, images = random_rectangles(cfg.model.roi_head.bbox_head.num_classes, all_masks=method == "Oracle")
    batch = partial_batch(objects=objects, shape="box", images=images)  # seen objects' masks: their filled boxes
    log_vars, changed = train_one_step(build_model(cfg), batch, cfg.optim_wrapper)

    teacher_student = method not in ("Mask R-CNN", "Oracle")
    assert math.isfinite(log_vars["loss"].item())
    assert ({"loss_mask_teacher", "loss_mask_student"} if teacher_student else {"loss_mask"}) <= set(log_vars)
    assert any(n.startswith("roi_head.mask_head.") for n in changed)
    if teacher_student:
        assert any(n.startswith("roi_head.teacher_head.") for n in changed)


# ---------------------------------------------------------------------------- the other methods' leaves
GPU = "_base_/schedules/synth-gpu_1xb16-3000it.py"  # the synthetic leaves on one GPU
BOXINST_GPU = "_base_/schedules/boxinst-synth-gpu_1xb16-3000it.py"  # BoxInst's synthetic leaves on one GPU
BOXINST_R = {"thr": (), "crf": ("_base_/ts_variants/boxinst-crf.py",),  # r of Table 5: the leaf is r = threshold,
             "interact": ("_base_/ts_variants/boxinst-interact.py",)}  # the others are mixins
NUM_CLASSES = 24  # of the synthetic benchmark


def _experiments(folder: str, gpu: str = GPU, variants=((),)) -> list[tuple[str, str, tuple]]:
    """(folder, leaf, mixins) of a method folder: every leaf, a "+ ours" leaf ('ts-...') with each of `variants`,
    the synthetic ones also sized for one GPU."""
    names = sorted(p.name for p in (CONFIGS / folder).glob("*.py"))
    runs = [(name, mixins) for name in names for mixins in (variants if name.startswith("ts-") else [()])]
    runs += [(name, (*mixins, gpu)) for name, mixins in runs if "_synth-" in name]
    return [(folder, name, mixins) for name, mixins in runs]


def _grabcut(cfg, name, mixins, build_model, partial_batch, train_one_step):
    from mmdet.registry import MODELS

    assert cfg.model.type == "MaskGrabCut" and cfg.model.grabcut.iterations == 5
    assert cfg.model.roi_head.mask_head is None
    if "_coco-" in name:
        assert cfg.model.roi_head.bbox_head.num_classes == 80 and MODELS.build(cfg.model).roi_head.with_bbox
        return
    cfg.optim_wrapper.type = "OptimWrapper"  # AMP needs a GPU
    log_vars, _ = train_one_step(build_model(cfg), partial_batch(), cfg.optim_wrapper)
    assert math.isfinite(log_vars["loss"].item()) and not any("mask" in key for key in log_vars)


def _maskx(cfg, name, mixins, build_model, partial_batch, train_one_step):
    from mmdet.registry import MODELS

    roi_head = cfg.model.roi_head
    assert roi_head.type == "MaskXRoIHead" and roi_head.mask_head.type == "MaskXMaskHead"
    assert roi_head.det_weights == "cls+box" and roi_head.stop_det_grad  # Hu et al.'s final model
    if "_coco-" in name:
        head = MODELS.build(roi_head)
        assert head.detection_weights().shape == (80, 1024 + 4 * 1024)
        assert head.segmentation_weights().shape == (80, 256)
        return
    cfg.optim_wrapper.type = "OptimWrapper"  # AMP needs a GPU
    log_vars, changed = train_one_step(build_model(cfg), partial_batch(), cfg.optim_wrapper)
    assert math.isfinite(log_vars["loss"].item()) and "loss_mask" in log_vars
    assert {"bbox_head", "mask_head", "weight_transfer"} <= {n.split(".")[1] for n in changed}


def _opmask(cfg, name, mixins, build_model, partial_batch, train_one_step):
    roi_head = cfg.model.roi_head
    assert roi_head.type == ("TeacherStudentOPMaskRoIHead" if name.startswith("ts-") else "OPMaskRoIHead")
    assert roi_head.bbox_head.type == "CAMBBoxHead" and roi_head.mask_head.num_convs == 7  # OPMask's heads
    assert roi_head.mask_head.class_agnostic == (not name.startswith("ts-"))
    if name.startswith("ts-"):
        assert roi_head.pseudo_labeler.post_process.type == "threshold"  # the leaf's r; variants are mixins
    if "_coco-" in name:
        assert roi_head.bbox_head.conv_out_channels == 256 and roi_head.bbox_head.num_classes == 80
        assert cfg.optim_wrapper.clip_grad == dict(type="value", clip_value=1.0)
        assert build_model(cfg).roi_head.bbox_head.features(torch.zeros(1, 256, 7, 7)).shape == (1, 256, 7, 7)
        return
    cfg.optim_wrapper.type = "OptimWrapper"  # AMP needs a GPU
    log_vars, changed = train_one_step(build_model(cfg), partial_batch(), cfg.optim_wrapper)
    assert math.isfinite(log_vars["loss"].item())
    changed = {n.split(".")[1] for n in changed}
    assert {"bbox_head", "mask_head"} <= changed
    assert ("teacher_head" in changed) == name.startswith("ts-")


def _cpmask(cfg, name, mixins, *_):
    roi_head = cfg.model.roi_head
    assert roi_head.type == "CPMaskRoIHead" and roi_head.mask_head.type == "CPMaskHead"
    assert roi_head.mask_head.class_agnostic
    assert roi_head.mask_head.loss_boundary.loss_weight == 0.5 and roi_head.mask_head.loss_affinity_weight == 0.5
    assert cfg.model.test_cfg.rpn.max_per_img == 512 and cfg.model.test_cfg.rcnn.max_per_img == 150
    if "_coco-" in name:  # the paper's setting, Sec. 5.1
        assert cfg.model.backbone.depth == 50 and roi_head.bbox_head.num_classes == 80
        assert cfg.train_cfg.max_epochs == 12 and cfg.optim_wrapper.optimizer.lr == 0.02
    else:
        gpu = GPU in mixins
        assert cfg.model.backbone.depth == 18 and roi_head.bbox_head.num_classes == NUM_CLASSES
        assert cfg.train_cfg.type == "IterBasedTrainLoop" and cfg.optim_wrapper.optimizer.lr == (0.02 if gpu else 0.01)
        assert (cfg.optim_wrapper.type == "AmpOptimWrapper") == gpu


def _boxinst(cfg, name, mixins, *_):
    model = cfg.model
    assert model.type == "BoxInst" and model.data_preprocessor.type == "PartialBoxInstDataPreprocessor"
    assert "tspsis.plugin" in cfg.custom_imports.imports
    pipeline = [step.type for step in cfg.train_dataloader.dataset.pipeline]
    assert "LoadPartialAnnotations" in pipeline and pipeline[-1] == "PackPartialDetInputs"
    if name.startswith("ts-"):
        r = next((r for r, variant in BOXINST_R.items() if variant and variant[0] in mixins), "thr")
        assert model.mask_head.type == "TeacherStudentBoxInstMaskHead"
        assert model.bbox_head.type == "TeacherStudentBoxInstBboxHead"
        assert model.mask_head.pseudo_labeler.post_process.type == {"thr": "threshold"}.get(r, r)
        assert model.bbox_head.student_num_params == 576 + 17 * model.bbox_head.num_classes
    else:
        assert model.mask_head.type == "PartialBoxInstMaskHead"
    assert model.test_cfg.nms.iou_threshold == 0.5 and model.test_cfg.max_per_img == 150  # Sec. 5.1
    if "_coco-" in name:  # BoxInst's own settings (Sec. 4.3): mmdet's boxinst_r50_fpn_ms-90k_coco
        assert model.backbone.depth == 50 and model.bbox_head.num_classes == 80
        assert cfg.train_cfg.max_iters == 90000 and cfg.optim_wrapper.optimizer.lr == 0.01
        assert cfg.train_dataloader.batch_size == 2 and "RandomChoiceResize" in pipeline
    else:
        assert model.backbone.depth == 18 and model.bbox_head.num_classes == NUM_CLASSES
        assert model.neck.out_channels == 64 and model.data_preprocessor.bottom_pixels_removed == 0
        assert cfg.train_cfg.type == "IterBasedTrainLoop" and cfg.optim_wrapper.optimizer.lr == 0.01
        # the pairwise term's warm-up is 1/9 of the iterations, as BoxInst's 10k of 90k
        assert model.mask_head.warmup_iters == cfg.train_cfg.max_iters // 9
        gpu = BOXINST_GPU in mixins
        assert (cfg.optim_wrapper.type == "AmpOptimWrapper") == gpu
        assert cfg.train_dataloader.batch_size == (16 if gpu else 4)


# method folder -> what its leaves say beyond their direction (the synthetic Mask GrabCut, MaskX and OPMask leaves
# also train a step; CPMask's and BoxInst's train in their own test files); Mask GrabCut trains on boxes alone
METHOD_CHECKS = {"grabcut": _grabcut, "maskx_rcnn": _maskx, "opmask": _opmask, "cpmask": _cpmask, "boxinst": _boxinst}
METHOD_EXPERIMENTS = [*_experiments("grabcut"), *_experiments("maskx_rcnn"), *_experiments("opmask"),
                      *_experiments("cpmask"), *_experiments("boxinst", BOXINST_GPU, BOXINST_R.values())]


@pytest.mark.slow  # builds and steps models
@pytest.mark.parametrize("folder,name,mixins", METHOD_EXPERIMENTS,
                         ids=["+".join([name[:-len(".py")], *(Path(m).stem for m in mixins)])
                              for _, name, mixins in METHOD_EXPERIMENTS])
def test_method_leaf_with_its_mixins_is_what_its_name_says(load_config, assert_direction_files, build_model,
                                                           partial_batch, train_one_step, folder, name, mixins):
    assert all((CONFIGS / m).is_file() for m in mixins)
    cfg = load_config(name, mixins)
    assert_direction_files(cfg, name, train_masks=None if folder == "grabcut" else "seen")  # GrabCut: boxes alone
    METHOD_CHECKS[folder](cfg, name, mixins, build_model, partial_batch, train_one_step)
