"""Partially supervised RoI heads (tspsis.models.roi_heads) inside a tiny Mask R-CNN on CPU.

Checks: unseen-category masks cannot leak into training (losses and gradients are bit-identical
whatever those masks hold), the student's targets of Eq. 3/4/6 on a hand-made case, loss keys for
every option, and which mask head predicts at test time.
"""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mmdet")
from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.structures.mask import BitmapMasks  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import tspsis.models.roi_heads as roi_heads  # noqa: E402

BASE_MODEL = Path(__file__).resolve().parents[2] / "configs/_base_/models/mask-rcnn_r18_fpn_scratch.py"
NUM_CLASSES = 24
SIZE = 64
# (box xyxy, label, has_mask) per image: seen and unseen objects that overlap each other.
OBJECTS = [
    [([4, 4, 40, 44], 0, True), ([20, 16, 60, 60], 5, False), ([30, 2, 62, 28], 7, True)],
    [([8, 10, 56, 50], 3, False), ([2, 30, 30, 62], 11, True)],
]

TS_HEAD = dict(type="TeacherStudentRoIHead")
PSIS_HEAD = dict(type="PartialRoIHead", mask_head=dict(class_agnostic=True))


pytestmark = pytest.mark.usefixtures("single_thread")


def build_model(roi_head: dict, crf: bool = False):
    """The lead's R18-FPN Mask R-CNN with RoI sampling cut down for speed."""
    register_all_modules()
    cfg = Config.fromfile(str(BASE_MODEL))
    cfg.merge_from_dict({"model.roi_head": roi_head})
    cfg.merge_from_dict({
        "model.train_cfg.rcnn.sampler.num": 32,
        "model.train_cfg.rpn_proposal.max_per_img": 64,
        "model.test_cfg.rpn.max_per_img": 64,
    })
    if crf:
        cfg.model.data_preprocessor.type = "ImageKeepingDetDataPreprocessor"
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def object_masks(unseen: str) -> list:
    """Per image (N, SIZE, SIZE) uint8 masks; box-only (unseen) objects' masks hold `unseen`:
    'zero' (what the loader gives), 'random' (scrambled) or 'box' (a filled box)."""
    rng = np.random.default_rng(123)
    out = []
    for objects in OBJECTS:
        masks = np.zeros((len(objects), SIZE, SIZE), np.uint8)
        for i, (box, _, has_mask) in enumerate(objects):
            x0, y0, x1, y1 = box
            if has_mask:  # an ellipse inside the box
                yy, xx = np.mgrid[:SIZE, :SIZE]
                cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
                masks[i] = ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1
            elif unseen == "random":
                masks[i] = rng.integers(0, 2, (SIZE, SIZE))
            elif unseen == "box":
                masks[i, y0:y1, x0:x1] = 1
        out.append(masks)
    return out


def make_batch(unseen: str = "zero", seen_masks: list | None = None) -> dict:
    masks = seen_masks if seen_masks is not None else object_masks(unseen)
    rng = np.random.default_rng(0)
    inputs, samples = [], []
    for objects, image_masks in zip(OBJECTS, masks):
        sample = DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
                                             scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([box for box, _, _ in objects], dtype=torch.float32),
            labels=torch.tensor([label for _, label, _ in objects]),
            masks=BitmapMasks(image_masks, SIZE, SIZE),
            has_mask=torch.tensor([has for _, _, has in objects]))
        samples.append(sample)
        inputs.append(torch.from_numpy(rng.integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8)))
    return dict(inputs=inputs, data_samples=samples)


def losses_and_grads(model, batch: dict) -> tuple[dict, dict]:
    """One forward/backward with a fixed seed (the RoI sampler is random)."""
    model.train()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode="loss")
    total, _ = model.parse_losses(losses)
    total.backward()
    values = {k: torch.stack(v).sum() if isinstance(v, list) else v for k, v in losses.items()}
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return values, grads


# ------------------------------------------------------------------------------------- (a) leakage
@pytest.mark.parametrize("roi_head, crf", [
    (PSIS_HEAD, False),
    (dict(TS_HEAD, pseudo_mask=dict(type="threshold")), False),
    (dict(TS_HEAD, pseudo_mask=dict(type="crf"), student_loss="all_channels"), True),
], ids=["baseline", "ts-threshold", "ts-crf-all-channels"])
def test_unseen_masks_do_not_leak(roi_head, crf):
    model = build_model(roi_head, crf=crf)
    zero_losses, zero_grads = losses_and_grads(model, make_batch("zero"))
    random_losses, random_grads = losses_and_grads(model, make_batch("random"))
    assert zero_losses.keys() == random_losses.keys()
    for key in zero_losses:
        assert torch.equal(zero_losses[key], random_losses[key]), key
    assert zero_grads.keys() == random_grads.keys()
    for name in zero_grads:
        assert torch.equal(zero_grads[name], random_grads[name]), name

    # The comparison is sensitive: changing a *seen* object's mask changes the mask losses.
    seen_changed = object_masks("zero")
    seen_changed[0][0] = 1 - seen_changed[0][0]
    changed_losses, _ = losses_and_grads(model, make_batch(seen_masks=seen_changed))
    mask_keys = [k for k in zero_losses if k.startswith("loss_mask")]
    assert all(not torch.equal(zero_losses[k], changed_losses[k]) for k in mask_keys)


def test_baseline_without_seen_objects_keeps_graph():
    model = build_model(PSIS_HEAD)
    batch = make_batch("box")
    for sample in batch["data_samples"]:
        sample.gt_instances.has_mask[:] = False
    losses, grads = losses_and_grads(model, batch)
    assert losses["loss_mask"].item() == 0
    mask_grads = [g for n, g in grads.items() if n.startswith("roi_head.mask_head.")]
    assert mask_grads and all(torch.count_nonzero(g) == 0 for g in mask_grads)


def test_pseudo_masks_do_not_train_the_teacher():
    model = build_model(TS_HEAD)
    model.train()
    data = model.data_preprocessor(make_batch(), training=True)
    torch.manual_seed(1)
    losses = model(**data, mode="loss")
    losses["loss_mask_student"].backward()
    teacher = [p.grad for p in model.roi_head.teacher_head.parameters()]
    student = [p.grad for p in model.roi_head.mask_head.parameters()]
    assert all(g is None or torch.count_nonzero(g) == 0 for g in teacher)
    assert any(g is not None and torch.count_nonzero(g) > 0 for g in student)


# ------------------------------------------------------------------------------ (b) student targets
def hand_made_case(teacher_size: int = 8):
    """One 32x32 image; seen object A (label 2, mask = top half) and unseen object B (label 5,
    box [8, 8, 24, 24]). RoI 0 is A's box, RoI 1 the whole image; the grid is 8x8, so cell k has
    its centre at pixel 4k + 2."""
    seen_mask = np.zeros((2, 32, 32), np.uint8)
    seen_mask[0, :16] = 1
    gt = InstanceData(bboxes=torch.tensor([[0.0, 0, 32, 16], [8, 8, 24, 24]]),
                      labels=torch.tensor([2, 5]), masks=BitmapMasks(seen_mask, 32, 32),
                      has_mask=torch.tensor([True, False]))
    positives = roi_heads.PositiveRoIs(
        rois=torch.tensor([[0.0, 0, 32, 16], [0, 0, 32, 32]]), img_idx=torch.tensor([0, 0]),
        labels=torch.tensor([2, 5]), has_mask=torch.tensor([True, False]),
        gt_boxes=gt.bboxes.clone())
    student_gt = torch.rand(2, 8, 8).round()
    student_gt[1] = 0  # a box-only object's target from the loader: zeros
    teacher_logits = torch.full((2, 1, teacher_size, teacher_size), 20.0)  # Mt = 1 everywhere
    student_logits = torch.zeros(2, NUM_CLASSES, 8, 8)
    return gt, positives, student_gt, teacher_logits, student_logits


def expected_unseen_target() -> torch.Tensor:
    """Cells of RoI 1 inside B's box (centres 10..22 -> cells 2..5) and outside A's mask
    (rows with centre >= 16 -> rows 4..7): rows 4-5, columns 2-5."""
    target = torch.zeros(8, 8)
    target[4:6, 2:6] = 1
    return target


def test_student_targets_hand_made():
    head = build_model(TS_HEAD).roi_head
    gt, positives, student_gt, teacher_logits, student_logits = hand_made_case()
    targets, weights = head.student_targets(student_gt, teacher_logits, student_logits,
                                            positives, [gt])
    assert torch.equal(targets[0], student_gt[0])  # seen: the ground truth
    assert torch.equal(targets[1], expected_unseen_target())  # unseen: cleaned r(Mt)
    assert torch.equal(weights, torch.ones(2))

    full = roi_heads.class_channel_targets(targets, positives.labels, NUM_CLASSES)  # Eq. 3
    assert full.shape == (2, NUM_CLASSES, 8, 8)
    for i, label in enumerate(positives.labels.tolist()):
        assert torch.equal(full[i, label], targets[i])
        others = torch.cat([full[i, :label], full[i, label + 1:]])
        assert torch.count_nonzero(others) == 0

    head.clean_pseudo = False
    raw, _ = head.student_targets(student_gt, teacher_logits, student_logits, positives, [gt])
    assert torch.equal(raw[1], torch.ones(8, 8))


def test_student_targets_high_res_teacher_is_area_averaged():
    head = build_model(TS_HEAD).roi_head
    head.clean_pseudo = False
    gt, positives, student_gt, _, student_logits = hand_made_case()
    # 16x16 teacher: in every 2x2 block 3 of 4 cells are sure foreground in the left half of the
    # grid and 1 of 4 in the right half -> area means 0.75 and 0.25 -> r(Mt) = left half.
    block_left = torch.tensor([[20.0, 20.0], [20.0, -20.0]])
    block_right = torch.tensor([[20.0, -20.0], [-20.0, -20.0]])
    tiles = torch.cat([block_left.repeat(8, 4), block_right.repeat(8, 4)], dim=1)
    teacher_logits = tiles.expand(2, 1, 16, 16).clone()
    targets, _ = head.student_targets(student_gt, teacher_logits, student_logits, positives, [gt])
    expected = torch.zeros(8, 8)
    expected[:, :4] = 1
    assert torch.equal(targets[1], expected)


def test_student_targets_interact_and_weights():
    head = build_model(dict(TS_HEAD, pseudo_mask=dict(type="interact"),
                            pseudo_weighting="confidence", pseudo_warmup_iters=10)).roi_head
    head.clean_pseudo = False
    gt, positives, student_gt, _, student_logits = hand_made_case()
    teacher_probs = torch.full((2, 1, 8, 8), 0.4)
    teacher_logits = torch.log(teacher_probs / (1 - teacher_probs))
    student_logits[1, 5, :4] = math.log(0.7 / 0.3)  # (0.4 + 0.7) / 2 >= 0.5 in the top half only
    student_logits[1, 5, 4:] = math.log(0.5 / 0.5)  # (0.4 + 0.5) / 2 < 0.5
    hub = MessageHub.get_current_instance()

    hub.update_info("iter", 3)  # during the warm-up unseen objects do not train the student
    targets, weights = head.student_targets(student_gt, teacher_logits, student_logits,
                                            positives, [gt])
    expected = torch.zeros(8, 8)
    expected[:4] = 1
    assert torch.equal(targets[1], expected)
    assert weights.tolist() == [1.0, 0.0]

    hub.update_info("iter", 10)  # afterwards: weight mean(|2 Mt - 1|) = 0.2
    _, weights = head.student_targets(student_gt, teacher_logits, student_logits, positives, [gt])
    hub.update_info("iter", 0)
    assert weights[0].item() == 1.0 and weights[1].item() == pytest.approx(0.2, abs=1e-6)


# ------------------------------------------------------------------------------------ (c) options
@pytest.mark.parametrize("roi_head, crf", [
    (dict(TS_HEAD, pseudo_mask=dict(type="threshold"), student_loss="label_channel"), False),
    (dict(TS_HEAD, pseudo_mask=dict(type="interact"), student_loss="all_channels"), False),
    (dict(TS_HEAD, pseudo_mask=dict(type="crf", crf_backend="pydensecrf")), True),
    (dict(TS_HEAD, teacher_head=dict(num_convs=12), pseudo_weighting="confidence"), False),
    (dict(TS_HEAD, teacher_head=dict(upsample_cfg=dict(type="deconv", scale_factor=4))), False),
], ids=["threshold", "interact-all-channels", "crf-pydensecrf", "deeper-teacher", "high-res-teacher"])
def test_teacher_student_losses(roi_head, crf):
    model = build_model(roi_head, crf=crf)
    losses, grads = losses_and_grads(model, make_batch())
    assert {"loss_cls", "loss_bbox", "loss_mask_teacher", "loss_mask_student"} <= set(losses)
    assert "loss_mask" not in losses
    assert all(math.isfinite(v.item()) for k, v in losses.items() if k.startswith("loss"))
    assert any(n.startswith("roi_head.teacher_head.") for n in grads)


def test_teacher_architectures():
    deeper = build_model(dict(TS_HEAD, teacher_head=dict(num_convs=12))).roi_head
    assert len(deeper.teacher_head.convs) == 12 and len(deeper.mask_head.convs) == 4
    high_res = build_model(
        dict(TS_HEAD, teacher_head=dict(upsample_cfg=dict(type="deconv", scale_factor=4)))).roi_head
    feats = torch.zeros(3, 64, 14, 14)
    assert high_res.teacher_head(feats).shape == (3, 1, 56, 56)
    assert high_res.mask_head(feats).shape == (3, NUM_CLASSES, 28, 28)


@pytest.mark.parametrize("bad, field", [
    (dict(pseudo_mask=dict(type="grabcut")), "pseudo_mask.type"),
    (dict(student_loss="some_channels"), "student_loss"),
    (dict(test_mask_head="both"), "test_mask_head"),
    (dict(teacher_head=dict(class_agnostic=False)), "teacher_head.class_agnostic"),
])
def test_bad_options_name_the_field(bad, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        build_model(dict(TS_HEAD, **bad))


def test_crf_without_images_says_what_to_configure():
    model = build_model(dict(TS_HEAD, pseudo_mask=dict(type="crf")), crf=False)
    with pytest.raises(ValueError, match="ImageKeepingDetDataPreprocessor"):
        losses_and_grads(model, make_batch())


# ---------------------------------------------------------------------------------- (d) inference
@pytest.mark.parametrize("test_mask_head", ["student", "teacher"])
def test_inference_uses_the_chosen_head(test_mask_head):
    model = build_model(dict(TS_HEAD, test_mask_head=test_mask_head))
    head = model.roi_head
    # The student says "foreground" everywhere, the teacher "background" everywhere.
    for mask_head, bias in ((head.mask_head, 50.0), (head.teacher_head, -50.0)):
        torch.nn.init.zeros_(mask_head.conv_logits.weight)
        torch.nn.init.constant_(mask_head.conv_logits.bias, bias)
    model.eval()
    data = model.data_preprocessor(make_batch(), training=False)
    feats = model.extract_feat(data["inputs"])
    results = [InstanceData(bboxes=torch.tensor([[4.0, 4, 40, 44], [20, 16, 60, 60]]),
                            labels=torch.tensor([0, 5]), scores=torch.tensor([0.9, 0.8]))
               for _ in data["data_samples"]]
    metas = [s.metainfo for s in data["data_samples"]]
    with torch.no_grad():
        results = head.predict_mask(feats, metas, results, rescale=True)
    for res in results:
        assert res.masks.shape == (2, SIZE, SIZE) and res.masks.dtype == torch.bool
        inside = torch.zeros(SIZE, SIZE, dtype=torch.bool)
        inside[4:44, 4:40] = True
        if test_mask_head == "student":
            assert res.masks[0][inside].all() and not res.masks[0][~inside].any()
        else:
            assert not res.masks.any()


def test_full_predict_gives_image_sized_masks():
    model = build_model(PSIS_HEAD)
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(make_batch(), training=False)
        outputs = model(**data, mode="predict")
    for out in outputs:
        masks = out.pred_instances.masks
        assert masks.shape[1:] == (SIZE, SIZE) and len(masks) == len(out.pred_instances.bboxes)
