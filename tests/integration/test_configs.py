"""Every experiment config in configs/ parses, says what its name says, and builds its model; every
synthetic-benchmark config trains one step on an in-memory batch (CPU)."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mmdet")
from mmdet.registry import MODELS  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
LEAD_SMOKE = "mask-rcnn_r18_fpn_smoke.py"  # the stack's smoke test, checked in test_mmdet_stack.py
ROI_HEADS = {"psis": "PartialRoIHead", "ts": "TeacherStudentRoIHead", "oracle": "StandardRoIHead"}
# The Mask R-CNN family; the other Table 1 methods' configs are checked in their own test files.
EXPERIMENTS = sorted(p.name for p in CONFIGS.glob("*.py")
                     if p.name != LEAD_SMOKE and p.name.split("-mask-rcnn_")[0] in ROI_HEADS)
SYNTHETIC = [name for name in EXPERIMENTS if "_synth-" in name]


pytestmark = pytest.mark.usefixtures("single_thread")


def test_every_experiment_is_covered():
    # two directions; COCO: baseline, 6 teacher-student variants, oracle; synthetic: the same for cpu and gpu
    assert len([n for n in EXPERIMENTS if "_coco-" in n]) == 2 * 8
    assert len(SYNTHETIC) == 2 * 2 * 8


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_config_matches_its_name_and_builds(load_config, assert_direction_files, name):
    cfg = load_config(name)
    algorithm, _ = name.split("-mask-rcnn_")
    roi_head = cfg.model.roi_head
    assert roi_head.type == ROI_HEADS[algorithm]
    assert roi_head.mask_head.get("class_agnostic", False) == (algorithm == "psis")
    assert "tspsis.models" in cfg.custom_imports.imports

    assert_direction_files(cfg, name, train_masks="all" if algorithm == "oracle" else "seen")

    if "_coco-" in name:  # the paper's setting, Sec. 5.1
        assert cfg.model.backbone.depth == 50 and roi_head.bbox_head.num_classes == 80
        assert cfg.train_cfg.max_epochs == 12 and cfg.param_scheduler[1].milestones == [8, 11]
        assert cfg.param_scheduler[0].end == 500 and cfg.optim_wrapper.optimizer.lr == 0.02
        assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16
    elif "_gpu_" in name:
        assert cfg.optim_wrapper.type == "AmpOptimWrapper" and cfg.train_dataloader.batch_size == 16
        assert cfg.optim_wrapper.optimizer.lr == 0.02 and cfg.train_cfg.type == "IterBasedTrainLoop"
    else:
        assert cfg.optim_wrapper.type == "OptimWrapper" and cfg.train_dataloader.batch_size <= 8
        assert cfg.optim_wrapper.optimizer.lr == 0.01 and cfg.train_cfg.type == "IterBasedTrainLoop"
    assert cfg.model.test_cfg.rpn.max_per_img == 512 and cfg.model.test_cfg.rcnn.max_per_img == 150

    model = MODELS.build(cfg.model)
    head = model.roi_head
    if algorithm == "ts":
        variant = name[:-len(".py")].rsplit("_", 1)[1]
        assert len(head.teacher_head.convs) == (12 if variant == "deep-teacher" else 4)
        feats = torch.zeros(1, head.mask_head.in_channels, 14, 14)
        assert head.teacher_head(feats).shape[-1] == (56 if variant == "hr-teacher" else 28)
        expected_r = {"crf": "crf", "interact": "interact", "no-post": "none"}.get(variant, "threshold")
        assert head.pseudo_mask["type"] == expected_r
        assert (type(model.data_preprocessor).__name__ == "ImageKeepingDetDataPreprocessor") == (variant == "crf")


def random_rectangles(num_classes: int, size: int = 64, all_masks: bool = False) -> tuple[list, list]:
    """Objects and images of two size x size images with three random rectangles each (np.random.default_rng(0)):
    per image (box xyxy, label, has_mask) per object, the second one box-only unless all_masks, and a
    (3, size, size) uint8 noise image."""
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


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_config_trains_one_step(load_config, build_model, partial_batch, train_one_step, name):
    cfg = load_config(name)
    objects, images = random_rectangles(cfg.model.roi_head.bbox_head.num_classes, all_masks=name.startswith("oracle"))
    batch = partial_batch(objects=objects, shape="box", images=images)  # seen objects' masks: their filled boxes
    log_vars, changed = train_one_step(build_model(cfg), batch, cfg.optim_wrapper)

    assert math.isfinite(log_vars["loss"].item())
    expected = ({"loss_mask_teacher", "loss_mask_student"} if name.startswith("ts-") else {"loss_mask"})
    assert expected <= set(log_vars)
    assert any(n.startswith("roi_head.mask_head.") for n in changed)
    if name.startswith("ts-"):
        assert any(n.startswith("roi_head.teacher_head.") for n in changed)
