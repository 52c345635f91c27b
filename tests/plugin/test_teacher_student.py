"""The partially supervised RoI heads (PartialRoIHead, TeacherStudentRoIHead) inside a tiny Mask R-CNN on CPU.

Checks: unseen-category masks cannot leak into training (losses and gradients are bit-identical
whatever those masks hold, crowd ones included), for sampled and ground-truth-box mask RoIs; seen crowd
masks clean the pseudo masks; a batch without has_mask raises; mask_roi_source='gt_boxes' trains the mask
heads on exactly the ground-truth boxes; the student loss of Eq. 6/7 by hand; the pseudo-labeller's
warm-up reaches the head; loss keys for every option; old options fail loudly; which mask head predicts
at test time. The student's targets themselves are tested on hand-made tensors in test_pseudo_labeler.py.
"""
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmdet")

import tspsis.plugin  # noqa: E402,F401  (registers the heads)


BASE_MODEL = Path(__file__).resolve().parents[2] / "configs/_base_/models/mask-rcnn_r18-scratch_fpn.py"
NUM_CLASSES = 24
SIZE = 64

TS_HEAD = dict(type="TeacherStudentRoIHead")
PSIS_HEAD = dict(type="PartialRoIHead", mask_head=dict(class_agnostic=True))


pytestmark = [pytest.mark.usefixtures("single_thread"), pytest.mark.slow]  # builds and steps models


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
def labeler(**post_process) -> dict:
    """pseudo_labeler=dict(type='PseudoLabeler', post_process=dict(**post_process))."""
    return dict(type="PseudoLabeler", post_process=post_process)


@pytest.mark.parametrize("roi_head, crf", [
    (PSIS_HEAD, False),
    (dict(TS_HEAD, pseudo_labeler=labeler(type="threshold")), False),
    (dict(TS_HEAD, pseudo_labeler=labeler(type="crf"), student_loss="all_channels"), True),
    (dict(TS_HEAD, pseudo_labeler=dict(weighting="confidence")), False),
    (dict(PSIS_HEAD, mask_roi_source="gt_boxes"), False),
    (dict(TS_HEAD, pseudo_labeler=labeler(type="interact"), mask_roi_source="gt_boxes"), False),
], ids=["baseline", "ts-threshold", "ts-crf-all-channels", "ts-confidence", "baseline-gt-boxes",
        "ts-interact-gt-boxes"])
def test_unseen_masks_do_not_leak(mask_rcnn, partial_batch, check_unseen_masks_do_not_leak, roi_head, crf):
    # The comparison is sensitive: inverting a *seen* object's mask changes the mask losses.
    zero_losses, changed_losses = check_unseen_masks_do_not_leak(mask_rcnn(roi_head, crf=crf), partial_batch)
    mask_keys = [k for k in zero_losses if k.startswith("loss_mask")]
    assert all(not torch.equal(zero_losses[k], changed_losses[k]) for k in mask_keys)
    # the teacher's foreground ratio is in the losses dict the check found identical: no unseen mask reaches it
    assert ("teacher_fg_ratio" in zero_losses) == (roi_head["type"] == TS_HEAD["type"])


def test_seen_crowd_masks_clean_pseudo_masks_and_unseen_crowds_do_not_leak(mask_rcnn, partial_batch, losses_and_grads,
                                                                           assert_bitwise_equal, with_crowd):
    model = mask_rcnn(TS_HEAD)
    plain, _ = losses_and_grads(model, partial_batch(), backward=False)
    zero, zero_grads = losses_and_grads(model, with_crowd(partial_batch(), "unseen-zero"))
    noisy, noisy_grads = losses_and_grads(model, with_crowd(partial_batch(), "unseen-random"))
    assert_bitwise_equal(zero, noisy)
    assert_bitwise_equal(zero_grads, noisy_grads)
    assert_bitwise_equal(plain, zero)
    seen, _ = losses_and_grads(model, with_crowd(partial_batch(), "seen"), backward=False)
    assert not torch.equal(seen["loss_mask_student"], plain["loss_mask_student"])
    assert torch.equal(seen["loss_mask_teacher"], plain["loss_mask_teacher"])  # the crowd is no training object


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


# ------------------------------------------------------------------------------------ (b) has_mask
@pytest.mark.parametrize("roi_head", [PSIS_HEAD, TS_HEAD, dict(PSIS_HEAD, mask_roi_source="gt_boxes")],
                         ids=["baseline", "ts", "baseline-gt-boxes"])
def test_missing_has_mask_raises(mask_rcnn, partial_batch, losses_and_grads, without_has_mask, roi_head):
    with pytest.raises(ValueError, match=r"gt_instances\.has_mask.*PackPartialDetInputs"):
        losses_and_grads(mask_rcnn(roi_head), without_has_mask(partial_batch()))


def test_fully_supervised_trains_without_has_mask(mask_rcnn, partial_batch, losses_and_grads, without_has_mask):
    model = mask_rcnn(dict(PSIS_HEAD, fully_supervised=True))
    losses, _ = losses_and_grads(model, without_has_mask(partial_batch()), backward=False)
    assert losses["loss_mask"] > 0
    with pytest.raises(ValueError, match="fully_supervised=True, but"):  # box-only instances: not fully supervised
        losses_and_grads(model, partial_batch(), backward=False)


# --------------------------------------------------------------------------------- (c) mask RoIs
def recorded_mask_rois(model, batch: dict, losses_and_grads) -> torch.Tensor:
    """The RoIs (n, 5) the mask RoI extractor sees in one training forward."""
    extractor = model.roi_head.mask_roi_extractor
    seen = []
    forward = extractor.forward

    def spy(feats, rois, *args, **kwargs):
        seen.append(rois.detach().clone())
        return forward(feats, rois, *args, **kwargs)

    extractor.forward = spy
    try:
        losses_and_grads(model, batch, backward=False)
    finally:
        del extractor.forward
    assert len(seen) == 1  # teacher and student share the mask RoI features (Eq. 2)
    return seen[0]


@pytest.mark.parametrize("roi_head", [PSIS_HEAD, TS_HEAD], ids=["baseline", "ts"])
def test_gt_box_rois_are_exactly_the_ground_truth_boxes(mask_rcnn, partial_batch, partial_objects,
                                                        losses_and_grads, roi_head):
    gt_rois = torch.tensor([[i, *box] for i, objects in enumerate(partial_objects) for box, _, _ in objects],
                           dtype=torch.float32)
    rois = recorded_mask_rois(mask_rcnn(dict(roi_head, mask_roi_source="gt_boxes")), partial_batch(),
                              losses_and_grads)
    assert torch.equal(rois, gt_rois)
    sampled = recorded_mask_rois(mask_rcnn(roi_head), partial_batch(), losses_and_grads)
    assert sampled.shape != gt_rois.shape or not torch.equal(sampled, gt_rois)  # mmdet's sampled positives


def test_gt_box_rois_leave_the_box_head_unchanged(mask_rcnn, partial_batch, losses_and_grads):
    sampled, _ = losses_and_grads(mask_rcnn(TS_HEAD), partial_batch(), backward=False)
    gt_boxes, _ = losses_and_grads(mask_rcnn(dict(TS_HEAD, mask_roi_source="gt_boxes")), partial_batch(),
                                   backward=False)
    for key in ("loss_cls", "loss_bbox", "loss_rpn_cls", "loss_rpn_bbox"):
        assert torch.equal(sampled[key], gt_boxes[key]), key
    assert not torch.equal(sampled["loss_mask_student"], gt_boxes["loss_mask_student"])


# ---------------------------------------------------------------------------- (d) student loss
def test_all_channels_loss_weighs_channel_l_as_the_label_channel_loss(mask_rcnn):
    """Eq. 7's equal weights: per RoI the sum over channels of the per-pixel mean, so channel l's term is the
    label-channel loss; with weights (1, 0) the second RoI does not count."""
    label_channel = mask_rcnn(TS_HEAD).roi_head
    all_channels = mask_rcnn(dict(TS_HEAD, student_loss="all_channels")).roi_head
    logits = torch.full((2, NUM_CLASSES, 2, 2), logit(0.25))  # other channels: BCE against 0 = -log 0.75
    logits[0, 5] = 0.0  # channel l = 5: BCE(p=0.5, target) = log 2 whatever the target
    targets = torch.tensor([[[1.0, 0.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]])
    labels, weights = torch.tensor([5, 7]), torch.tensor([1.0, 0.0])
    assert label_channel.student_mask_loss(logits, targets, labels, weights).item() == pytest.approx(math.log(2))
    expected = math.log(2) + (NUM_CLASSES - 1) * -math.log(0.75)
    assert all_channels.student_mask_loss(logits, targets, labels, weights).item() == pytest.approx(expected)


@pytest.mark.parametrize("warmup_iters", [0, 10])
def test_warmup_keeps_the_teacher_out_of_the_student_loss(mask_rcnn, partial_batch, losses_and_grads,
                                                         warmup_iters):
    """During the warm-up (iteration 0 < 10) a different teacher changes L_segT but not L_segS."""
    model = mask_rcnn(dict(TS_HEAD, pseudo_labeler=dict(warmup_iters=warmup_iters)))
    before, _ = losses_and_grads(model, partial_batch(), backward=False)
    with torch.no_grad():
        model.roi_head.teacher_head.conv_logits.bias.fill_(3.0)
    after, _ = losses_and_grads(model, partial_batch(), backward=False)
    assert not torch.equal(before["loss_mask_teacher"], after["loss_mask_teacher"])
    assert torch.equal(before["loss_mask_student"], after["loss_mask_student"]) == (warmup_iters > 0)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# ------------------------------------------------------------------------------------ (e) options
@pytest.mark.parametrize("roi_head, crf", [
    (dict(TS_HEAD, pseudo_labeler=labeler(type="threshold"), student_loss="label_channel"), False),
    (dict(TS_HEAD, pseudo_labeler=labeler(type="interact"), student_loss="all_channels"), False),
    (dict(TS_HEAD, pseudo_labeler=labeler(type="crf", crf_backend="pydensecrf")), True),
    (dict(TS_HEAD, teacher_head=dict(num_convs=12), pseudo_labeler=dict(weighting="confidence")), False),
    (dict(TS_HEAD, teacher_head=dict(upsample_cfg=dict(type="deconv", scale_factor=4))), False),
    (dict(TS_HEAD, pseudo_labeler=dict(post_process=dict(type="none"), clean=False)), False),
], ids=["threshold", "interact-all-channels", "crf-pydensecrf", "deeper-teacher", "high-res-teacher",
        "no-post-processing"])
def test_teacher_student_losses(mask_rcnn, partial_batch, losses_and_grads, roi_head, crf):
    model = mask_rcnn(roi_head, crf=crf)
    losses, grads = losses_and_grads(model, partial_batch())
    assert {"loss_cls", "loss_bbox", "loss_mask_teacher", "loss_mask_student", "teacher_fg_ratio"} <= set(losses)
    assert "loss_mask" not in losses
    total, logged = model.parse_losses(losses)  # logged beside the losses, not summed into Eq. 7
    assert "teacher_fg_ratio" in logged and not losses["teacher_fg_ratio"].requires_grad
    assert torch.equal(total, sum(v for k, v in logged.items() if k.startswith("loss_")))
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
    (dict(pseudo_labeler=labeler(type="grabcut")), "post_process.type"),
    (dict(student_loss="some_channels"), "student_loss"),
    (dict(test_mask_head="both"), "test_mask_head"),
    (dict(teacher_head=dict(class_agnostic=False)), "teacher_head.class_agnostic"),
    (dict(mask_roi_source="proposals"), "mask_roi_source"),
])
def test_bad_options_name_the_field(mask_rcnn, bad, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        mask_rcnn(dict(TS_HEAD, **bad))


@pytest.mark.parametrize("old, new", [("pseudo_mask", "post_process"), ("clean_pseudo", "clean"),
                                      ("pseudo_warmup_iters", "warmup_iters"), ("pseudo_weighting", "weighting")])
def test_old_options_fail_loudly_naming_the_new_key(mask_rcnn, old, new):
    with pytest.raises(TypeError, match=rf"`{old}` -> `pseudo_labeler\.{new}`"):
        mask_rcnn(dict(TS_HEAD, **{old: dict(type="threshold") if old == "pseudo_mask" else 1}))


def test_crf_without_images_says_what_to_configure(mask_rcnn, partial_batch, losses_and_grads):
    model = mask_rcnn(dict(TS_HEAD, pseudo_labeler=labeler(type="crf")), crf=False)
    with pytest.raises(ValueError, match="ImageKeepingDetDataPreprocessor"):
        losses_and_grads(model, partial_batch())


# ---------------------------------------------------------------------------------- (f) inference
@pytest.mark.parametrize("test_mask_head", ["student", "teacher"])
def test_inference_uses_the_chosen_head(mask_rcnn, assert_test_mask_head_is_used, test_mask_head):
    # The student says "foreground" everywhere, the teacher "background" everywhere; the config's threshold.
    assert_test_mask_head_is_used(mask_rcnn(dict(TS_HEAD, test_mask_head=test_mask_head)), test_mask_head)


def test_full_predict_gives_image_sized_masks(mask_rcnn, partial_batch, predict):
    for out in predict(mask_rcnn(PSIS_HEAD), partial_batch()):
        masks = out.pred_instances.masks
        assert masks.shape[1:] == (SIZE, SIZE) and len(masks) == len(out.pred_instances.bboxes)


# ------------------------------------------------------------------------------------ (f) explain
@pytest.mark.parametrize("post_process", [dict(type="crf"), dict(type="threshold")], ids=["crf", "threshold"])
def test_explain_and_its_panel_show_the_heads_own_training_targets(mask_rcnn, partial_batch, post_process):
    """The teacher-student panels (tspsis.viz.panels) draw explain(); explain() of the unseen objects of a training
    batch gives exactly the student targets training made of them (kept in last_pseudo_masks)."""
    import numpy as np

    from tspsis.plugin.utils.partial_supervision import rgb_images, seen_union_masks
    from tspsis.viz.panels import explanation_panel

    model = mask_rcnn(dict(TS_HEAD, pseudo_labeler=labeler(**post_process), mask_roi_source="gt_boxes"), crf=True)
    model.train()
    data = model.data_preprocessor(partial_batch(), training=True)
    torch.manual_seed(1)
    model(**data, mode="loss")
    trained = model.roi_head.last_pseudo_masks  # G_l of the unseen objects, as training computed them
    gts = [sample.gt_instances for sample in data["data_samples"]]
    unseen = [~gt.has_mask for gt in gts]
    boxes = torch.cat([gt.bboxes[u] for gt, u in zip(gts, unseen)])
    img_idx = torch.cat([torch.full((int(u.sum()),), i) for i, u in enumerate(unseen)])
    labels = torch.cat([gt.labels[u] for gt, u in zip(gts, unseen)])
    with torch.no_grad():
        x = model.extract_feat(data["inputs"])
    explanation = model.roi_head.explain(x, boxes, img_idx, labels, seen_union_masks(gts),
                                         rgb_images(gts, "ImageKeepingDetDataPreprocessor"))
    assert torch.equal(labels, trained.labels) and torch.equal(img_idx, trained.img_idx)
    assert torch.equal(explanation.cleaned >= 0.5, trained.masks)
    assert bool(trained.masks.any())
    # the cleaning only removes cells, and here it removes some (the seen objects overlap an unseen one)
    assert bool((explanation.pseudo_masks >= explanation.cleaned).all())
    assert int((explanation.pseudo_masks >= 0.5).sum()) > int(trained.masks.sum())
    no_truth = torch.zeros(trained.masks.shape[-2:], dtype=torch.bool)
    for row in range(len(boxes)):
        panel = explanation_panel(explanation, {"own r": explanation}, row, no_truth)
        assert np.array_equal(panel["cleaned"], trained.masks[row].numpy())
        assert np.array_equal(panel["own r"], (explanation.pseudo_masks[row] >= 0.5).numpy())
        assert panel["crop"].shape == (*trained.masks.shape[-2:], 3)
