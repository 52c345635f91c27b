"""Mask GrabCut (tspsis.plugin.detectors.grabcut): GrabCut per detected box, on a Faster R-CNN, on CPU.

Checks: a coloured ellipse on a plain background is recovered from its box (IoU > 0.7), also from a box
covering the whole image, from a downscaled crop and through the detector with results rescaled to the
original image; degenerate boxes give the filled box; training is the box detector's alone; predictions
carry image-sized masks. The configs: tests/repo/test_configs.py.
"""
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("mmdet")
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.structures.mask import BitmapMasks  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from tspsis.plugin.detectors.grabcut import grabcut_masks  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
GRABCUT = CONFIGS / "grabcut/grabcut-faster-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"
BACKGROUND, OBJECT = (200, 200, 200), (30, 40, 220)  # BGR: a red ellipse on grey

pytestmark = [pytest.mark.usefixtures("single_thread"), pytest.mark.slow]  # builds and steps models


def ellipse_scene(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(size, size, 3) uint8 image with a noisy red ellipse, its (size, size) mask and its (1, 4) box."""
    yy, xx = np.mgrid[:size, :size] + 0.5
    cx, cy, rx, ry = 0.47 * size, 0.53 * size, 0.28 * size, 0.19 * size
    mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    image = np.empty((size, size, 3), np.int64)
    image[...] = BACKGROUND
    image[mask] = OBJECT
    image += np.random.default_rng(0).integers(-12, 13, image.shape)
    box = np.array([[cx - rx, cy - ry, cx + rx, cy + ry]])
    return image.clip(0, 255).astype(np.uint8), mask, box


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


# ------------------------------------------------------------------------------------- grabcut_masks
@pytest.mark.parametrize("max_side", [None, 24])
def test_recovers_an_ellipse_from_its_box(max_side):
    image, truth, box = ellipse_scene(64)
    masks = grabcut_masks(image, box, iterations=5, max_side=max_side)
    assert masks.shape == (1, 64, 64) and masks.dtype == bool
    assert iou(masks[0], truth) > 0.7
    x0, y0, x1, y1 = box[0]
    outside = np.ones((64, 64), bool)
    outside[math.floor(y0):math.ceil(y1), math.floor(x0):math.ceil(x1)] = False
    assert not masks[0][outside].any()


def test_a_box_covering_the_whole_image_keeps_a_background_ring():
    image, truth, _ = ellipse_scene(64)
    masks = grabcut_masks(image, np.array([[0.0, 0.0, 64.0, 64.0]]))
    assert iou(masks[0], truth) > 0.7


def test_degenerate_boxes_give_the_filled_box():
    image, _, _ = ellipse_scene(32)
    masks = grabcut_masks(image, np.array([[5.0, 5.0, 5.5, 20.0], [-4.0, 31.2, 10.0, 40.0]]))
    expected = np.zeros((2, 32, 32), bool)
    expected[0, 5:20, 5:6] = True    # under 2 pixels wide
    expected[1, 31:32, 0:10] = True  # clipped to the image: 1 row high
    assert np.array_equal(masks, expected)


def test_no_boxes_no_masks():
    image, _, _ = ellipse_scene(16)
    assert grabcut_masks(image, np.zeros((0, 4))).shape == (0, 16, 16)


@pytest.mark.parametrize("kwargs, field", [
    (dict(image=np.zeros((8, 8), np.uint8)), "image"),
    (dict(boxes=np.zeros((2, 5))), "boxes"),
    (dict(iterations=0), "iterations"),
])
def test_bad_input_names_the_field(kwargs, field):
    image, _, box = ellipse_scene(16)
    with pytest.raises(ValueError, match=field):
        grabcut_masks(**{"image": image, "boxes": box, **kwargs})


# -------------------------------------------------------------------------------------- detector
def scene_batch(ori_size: int, input_size: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """One ellipse image of ori_size resized to input_size (as a test pipeline would), its mask and box."""
    image, truth, box = ellipse_scene(ori_size)
    resized = cv2.resize(image, (input_size, input_size), interpolation=cv2.INTER_AREA)
    scale = input_size / ori_size
    sample = DetDataSample(metainfo=dict(img_shape=(input_size, input_size), ori_shape=(ori_size, ori_size),
                                         scale_factor=(scale, scale)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor(box * scale, dtype=torch.float32),
                                       labels=torch.tensor([3]),
                                       masks=BitmapMasks(truth[None].astype(np.uint8), ori_size, ori_size))
    return dict(inputs=[torch.from_numpy(resized).permute(2, 0, 1)], data_samples=[sample]), truth, box


@pytest.mark.parametrize("rescale", [True, False])
def test_detector_masks_follow_the_boxes_frame(build_model, rescale):
    model = build_model(GRABCUT)
    model.eval()
    batch, truth, box = scene_batch(ori_size=128, input_size=64)
    data = model.data_preprocessor(batch, training=False)  # normalised, RGB: undone before GrabCut
    sample = data["data_samples"][0]
    scale = 1.0 if rescale else 0.5
    sample.pred_instances = InstanceData(bboxes=torch.tensor(box * scale, dtype=torch.float32),
                                         labels=torch.tensor([3]), scores=torch.tensor([0.9]))
    masks = model.add_grabcut_masks(data["inputs"], [sample], rescale=rescale)[0].pred_instances.masks
    if rescale:
        assert masks.shape == (1, 128, 128) and masks.dtype == torch.bool
        assert iou(masks[0].numpy(), truth) > 0.7
    else:
        assert masks.shape == (1, 64, 64)
        truth_small = cv2.resize(truth.astype(np.uint8), (64, 64), interpolation=cv2.INTER_NEAREST).astype(bool)
        assert iou(masks[0].numpy(), truth_small) > 0.7


def test_full_predict_gives_image_sized_masks(build_model, predict):
    batch, _, _ = scene_batch(ori_size=96, input_size=64)
    pred = predict(build_model(GRABCUT), batch)[0].pred_instances
    assert len(pred.bboxes) > 0  # the untrained detector still returns its top-scoring boxes
    assert pred.masks.shape == (len(pred.bboxes), 96, 96) and pred.masks.dtype == torch.bool


def test_training_is_the_box_detectors_alone(build_model):
    model = build_model(GRABCUT)
    model.train()
    batch, _, _ = scene_batch(ori_size=64, input_size=64)
    batch["data_samples"][0].set_metainfo(dict(ori_shape=(64, 64), scale_factor=(1.0, 1.0)))
    losses = model(**model.data_preprocessor(batch, training=True), mode="loss")
    assert {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox"} <= set(losses)
    assert not any("mask" in key for key in losses)


def test_bad_options_name_the_field(build_model):
    mask_rcnn_roi_head = Config.fromfile(str(CONFIGS / "_base_/models/mask-rcnn_r18-scratch_fpn.py")).model.roi_head
    with pytest.raises(ValueError, match="mask_head"):
        build_model(GRABCUT, {"model.roi_head": dict(mask_rcnn_roi_head, _delete_=True)})  # replaced, not merged
    with pytest.raises(ValueError, match="grabcut"):
        build_model(GRABCUT, {"model.grabcut": dict(iterations=5, radius=3, _delete_=True)})
