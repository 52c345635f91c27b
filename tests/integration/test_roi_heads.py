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
from mmdet.structures.mask import BitmapMasks  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import tspsis.models.roi_heads as roi_heads  # noqa: E402

BASE_MODEL = Path(__file__).resolve().parents[2] / "configs/_base_/models/mask-rcnn_r18-scratch_fpn.py"
NUM_CLASSES = 24
SIZE = 64

TS_HEAD = dict(type="TeacherStudentRoIHead")
PSIS_HEAD = dict(type="PartialRoIHead", mask_head=dict(class_agnostic=True))


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="session")
def mask_rcnn(build_model):
    """build(roi_head, crf=False): the lead's R18-FPN Mask R-CNN with `roi_head` merged into its RoI head; crf:
    with the data preprocessor that keeps the images (the CRF needs them)."""
    def build(roi_head: dict, crf: bool = False):
        options = {"model.roi_head": roi_head}
        if crf:
            options["model.data_preprocessor.type"] = "ImageKeepingDetDataPreprocessor"
        return build_model(BASE_MODEL, options)
    return build


# ------------------------------------------------------------------------------------- (a) leakage
@pytest.mark.parametrize("roi_head, crf", [
    (PSIS_HEAD, False),
    (dict(TS_HEAD, pseudo_mask=dict(type="threshold")), False),
    (dict(TS_HEAD, pseudo_mask=dict(type="crf"), student_loss="all_channels"), True),
], ids=["baseline", "ts-threshold", "ts-crf-all-channels"])
def test_unseen_masks_do_not_leak(mask_rcnn, partial_batch, check_unseen_masks_do_not_leak, roi_head, crf):
    # The comparison is sensitive: inverting a *seen* object's mask changes the mask losses.
    zero_losses, changed_losses = check_unseen_masks_do_not_leak(mask_rcnn(roi_head, crf=crf), partial_batch)
    mask_keys = [k for k in zero_losses if k.startswith("loss_mask")]
    assert all(not torch.equal(zero_losses[k], changed_losses[k]) for k in mask_keys)


def test_baseline_without_seen_objects_keeps_graph(mask_rcnn, partial_batch, losses_and_grads):
    model = mask_rcnn(PSIS_HEAD)
    batch = partial_batch("box")
    for sample in batch["data_samples"]:
        sample.gt_instances.has_mask[:] = False
    losses, grads = losses_and_grads(model, batch)
    assert losses["loss_mask"].item() == 0
    mask_grads = [g for n, g in grads.items() if n.startswith("roi_head.mask_head.")]
    assert mask_grads and all(torch.count_nonzero(g) == 0 for g in mask_grads)


def test_pseudo_masks_do_not_train_the_teacher(mask_rcnn, partial_batch, losses_and_grads):
    model = mask_rcnn(TS_HEAD)
    losses_and_grads(model, partial_batch(), backward={"loss_mask_student"})
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


def test_student_targets_hand_made(mask_rcnn):
    head = mask_rcnn(TS_HEAD).roi_head
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


def test_student_targets_high_res_teacher_is_area_averaged(mask_rcnn):
    head = mask_rcnn(TS_HEAD).roi_head
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


def test_student_targets_interact_and_weights(mask_rcnn):
    head = mask_rcnn(dict(TS_HEAD, pseudo_mask=dict(type="interact"),
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
def test_teacher_student_losses(mask_rcnn, partial_batch, losses_and_grads, roi_head, crf):
    model = mask_rcnn(roi_head, crf=crf)
    losses, grads = losses_and_grads(model, partial_batch())
    assert {"loss_cls", "loss_bbox", "loss_mask_teacher", "loss_mask_student"} <= set(losses)
    assert "loss_mask" not in losses
    assert all(math.isfinite(v.item()) for k, v in losses.items() if k.startswith("loss"))
    assert any(n.startswith("roi_head.teacher_head.") for n in grads)


def test_teacher_runs_without_gradient_on_unseen_rois_and_gives_one_pass_values(mask_rcnn):
    head = mask_rcnn(TS_HEAD).roi_head
    assert not head._teacher_has_batch_statistics
    feats = torch.randn(5, 64, 14, 14, generator=torch.Generator().manual_seed(0))
    has_mask = torch.tensor([False, True, False, True, True])
    weight = head.teacher_head.convs[0].conv.weight
    one_pass = head.teacher_head(feats)
    one_pass_grad, = torch.autograd.grad(one_pass[has_mask].square().sum(), weight)
    split = head._teacher_logits(feats, has_mask)
    assert torch.allclose(split, one_pass.detach(), atol=1e-5)
    split_grad, = torch.autograd.grad(split[has_mask].square().sum(), weight, retain_graph=True)
    assert torch.allclose(split_grad, one_pass_grad, rtol=1e-4, atol=1e-6)
    unseen_grad, = torch.autograd.grad(split[~has_mask].sum(), weight)
    assert torch.count_nonzero(unseen_grad) == 0  # the unseen rows were computed without gradient


def test_teacher_architectures(mask_rcnn):
    deeper = mask_rcnn(dict(TS_HEAD, teacher_head=dict(num_convs=12))).roi_head
    assert len(deeper.teacher_head.convs) == 12 and len(deeper.mask_head.convs) == 4
    high_res = mask_rcnn(
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
def test_bad_options_name_the_field(mask_rcnn, bad, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        mask_rcnn(dict(TS_HEAD, **bad))


def test_crf_without_images_says_what_to_configure(mask_rcnn, partial_batch, losses_and_grads):
    model = mask_rcnn(dict(TS_HEAD, pseudo_mask=dict(type="crf")), crf=False)
    with pytest.raises(ValueError, match="ImageKeepingDetDataPreprocessor"):
        losses_and_grads(model, partial_batch())


# ---------------------------------------------------------------------------------- (d) inference
@pytest.mark.parametrize("test_mask_head", ["student", "teacher"])
def test_inference_uses_the_chosen_head(mask_rcnn, assert_test_mask_head_is_used, test_mask_head):
    # The student says "foreground" everywhere, the teacher "background" everywhere; the config's threshold.
    assert_test_mask_head_is_used(mask_rcnn(dict(TS_HEAD, test_mask_head=test_mask_head)), test_mask_head)


def test_full_predict_gives_image_sized_masks(mask_rcnn, partial_batch, predict):
    for out in predict(mask_rcnn(PSIS_HEAD), partial_batch()):
        masks = out.pred_instances.masks
        assert masks.shape[1:] == (SIZE, SIZE) and len(masks) == len(out.pred_instances.bboxes)
