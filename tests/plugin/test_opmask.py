"""OPMask and OPMask + teacher-student (tspsis.plugin.roi_heads.opmask) in a tiny R18-FPN model on CPU.

Checks: Eq. 8 is the spatial mean of Eq. 9 in the CAM box head; the object mask prior on a hand-made map;
the mask loss sees the CAM of the object's class only and never the masks of unseen objects; OPMask +
teacher-student leaves every OPMask loss unchanged and adds the student loss (Sec. 4.3); inference uses
the predicted labels and the chosen mask head; with mask_roi_source='gt_boxes' the mask heads and the prior
take the ground-truth boxes. The configs: tests/repo/test_configs.py.
"""
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmdet")
from mmdet.registry import MODELS  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402

from tspsis.plugin.roi_heads.opmask import CAMBBoxHead, object_mask_prior  # noqa: E402
from tspsis.plugin.roi_heads.teacher_student import TEACHER_FG_RATIO  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
OPMASK = CONFIGS / "opmask/opmask_r18-scratch_fpn_synth-voc2nonvoc.py"
TS_OPMASK = CONFIGS / "opmask/ts-opmask_r18-scratch_fpn_synth-voc2nonvoc.py"
GT_BOXES = {"model.roi_head.mask_roi_source": "gt_boxes"}
NUM_CLASSES = 24
SIZE = 64

pytestmark = [pytest.mark.usefixtures("single_thread"), pytest.mark.slow]  # builds and steps models


# ----------------------------------------------------------------------------------- CAM box head
def cam_box_head() -> CAMBBoxHead:
    register_all_modules()
    torch.manual_seed(0)
    return MODELS.build(dict(type="CAMBBoxHead", num_convs=2, in_channels=8, conv_out_channels=16,
                             roi_feat_size=7, num_classes=5))


def test_box_head_logits_are_the_spatial_mean_of_its_cam():
    head = cam_box_head()
    x = torch.randn(3, 8, 7, 7)
    cls_score, bbox_pred = head(x)
    assert cls_score.shape == (3, 6) and bbox_pred.shape == (3, 4 * 5)
    cams = head.class_activation_maps(head.features(x))  # Eq. 9, (3, 5, 7, 7)
    assert cams.shape == (3, 5, 7, 7)
    torch.testing.assert_close(cams.mean(dim=(2, 3)), cls_score[:, :5], rtol=1e-5, atol=1e-5)  # Eq. 8


def test_cam_for_labels_picks_the_class_and_detaches_the_classifier():
    head = cam_box_head()
    feats = head.features(torch.randn(3, 8, 7, 7))
    labels = torch.tensor([4, 0, 2])
    cams = head.cam_for_labels(feats, labels)
    torch.testing.assert_close(cams[:, 0], head.class_activation_maps(feats)[torch.arange(3), labels])
    cams.sum().backward()
    assert head.fc_cls.weight.grad is None  # OPMask: W_cls is detached for the CAM
    assert head.shared_convs[0].conv.weight.grad.abs().sum() > 0  # F is not


def test_box_head_rejects_fc_layers():
    register_all_modules()
    with pytest.raises(ValueError, match="num_shared_fcs"):
        MODELS.build(dict(type="CAMBBoxHead", num_shared_fcs=1, in_channels=8, num_classes=5))


def test_object_mask_prior_by_hand():
    cams = torch.tensor([[[[0.0, 2.0], [4.0, 8.0]]], [[[3.0, 3.0], [3.0, 3.0]]]])
    prior = object_mask_prior(cams, (4, 4))
    # min-max: [[0, .25], [.5, 1]]; 2 -> 4 bilinear (half-pixel centres): a, .75a + .25b, .25a + .75b, b
    up = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    expected = up @ torch.tensor([[0.0, 0.25], [0.5, 1.0]]) @ up.t()
    torch.testing.assert_close(prior[0, 0], expected)
    assert torch.equal(prior[1], torch.zeros(1, 4, 4))  # a constant map carries no prior


# ------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("config,options", [(OPMASK, {}), (TS_OPMASK, {}), (OPMASK, GT_BOXES), (TS_OPMASK, GT_BOXES)],
                         ids=["opmask", "ts-opmask", "opmask-gt-boxes", "ts-opmask-gt-boxes"])
def test_unseen_masks_do_not_leak(build_model, partial_batch, losses_and_grads, assert_bitwise_equal, config,
                                  options):
    model = build_model(config, options)
    zero, zero_grads = losses_and_grads(model, partial_batch("zero"))
    noisy, noisy_grads = losses_and_grads(model, partial_batch("random", noise_seed=1))
    assert_bitwise_equal(zero, noisy)
    assert_bitwise_equal(zero_grads, noisy_grads)
    assert all(math.isfinite(v.item()) for k, v in zero.items() if k.startswith("loss"))


def test_gt_box_rois_get_the_prior_of_their_own_box(build_model, partial_batch, partial_objects, losses_and_grads):
    """mask_roi_source='gt_boxes': the mask features and the CAM prior are those of the ground-truth boxes."""
    model = build_model(OPMASK, GT_BOXES)
    head = model.roi_head
    seen = []
    prior = head._mask_feats_with_prior

    def spy(x, rois, box_feats, labels):
        seen.append((rois.detach().clone(), len(box_feats), labels.clone()))
        return prior(x, rois, box_feats, labels)

    head._mask_feats_with_prior = spy
    losses_and_grads(model, partial_batch(), backward=False)
    (rois, num_box_feats, labels), = seen
    expected = torch.tensor([[i, *box] for i, objects in enumerate(partial_objects) for box, _, _ in objects],
                            dtype=torch.float32)
    assert torch.equal(rois, expected) and num_box_feats == len(expected)
    assert labels.tolist() == [label for objects in partial_objects for _, label, _ in objects]


def test_mask_loss_sees_the_cam_of_the_objects_class_only(build_model, partial_objects, partial_batch,
                                                          losses_and_grads):
    def loss_mask(model) -> torch.Tensor:
        return losses_and_grads(model, partial_batch(), backward=False)[0]["loss_mask"]

    model = build_model(OPMASK)
    fc_cls = model.roi_head.bbox_head.fc_cls
    reference = loss_mask(model)
    present = sorted({label for objects in partial_objects for _, label, _ in objects})
    absent = [c for c in range(NUM_CLASSES) if c not in present]
    with torch.no_grad():
        fc_cls.weight[absent] = torch.randn(len(absent), fc_cls.in_features)
    assert torch.equal(loss_mask(model), reference)
    with torch.no_grad():
        fc_cls.weight[present] = torch.randn(len(present), fc_cls.in_features)
    assert not torch.equal(loss_mask(model), reference)


def test_teacher_student_adds_only_the_student_loss(build_model, partial_batch, losses_and_grads):
    """Sec. 4.3: with the same weights, seed and batch every OPMask loss is unchanged."""
    opmask = build_model(OPMASK)
    ts = build_model(TS_OPMASK)
    state = ts.state_dict()
    for name, value in opmask.state_dict().items():  # OPMask's mask head is the teacher
        state[name.replace("roi_head.mask_head.", "roi_head.teacher_head.")] = value
    ts.load_state_dict(state)
    ours, _ = losses_and_grads(ts, partial_batch(), backward=False)
    theirs, _ = losses_and_grads(opmask, partial_batch(), backward=False)
    # beside the losses: the teacher's foreground ratio, logged and not summed (TeacherCoverageHook's number)
    assert set(ours) == set(theirs) - {"loss_mask"} | {"loss_mask_teacher", "loss_mask_student", TEACHER_FG_RATIO}
    for key, value in theirs.items():
        assert torch.equal(ours["loss_mask_teacher" if key == "loss_mask" else key], value), key
    assert ours["loss_mask_student"] > 0


def test_mask_loss_trains_the_box_convs_not_the_classifier(build_model, partial_batch, losses_and_grads):
    model = build_model(OPMASK)
    losses_and_grads(model, partial_batch(), backward={"loss_mask"})
    bbox_head = model.roi_head.bbox_head
    assert bbox_head.fc_cls.weight.grad is None
    assert bbox_head.shared_convs[-1].conv.weight.grad.abs().sum() > 0


def test_requires_the_cam_box_head(build_model):
    with pytest.raises(ValueError, match="bbox_head.type"):  # Mask R-CNN's fc box head has no CAM
        build_model(CONFIGS / "_base_/models/mask-rcnn_r18-scratch_fpn.py", {"model.roi_head.type": "OPMaskRoIHead"})


# ------------------------------------------------------------------------------------ inference
def test_inference_uses_the_predicted_labels(build_model, partial_batch, predict_roi_masks):
    model = build_model(OPMASK)
    masks = predict_roi_masks(model, partial_batch(), [0, 5], thr=-1)  # soft masks
    assert masks.shape == (2, 2, SIZE, SIZE)
    relabelled = predict_roi_masks(model, partial_batch(), [3, 5], thr=-1)
    assert not torch.equal(masks[:, 0], relabelled[:, 0])  # another class, another CAM prior
    assert torch.equal(masks[:, 1], relabelled[:, 1])


@pytest.mark.parametrize("test_mask_head", ["student", "teacher"])
def test_teacher_student_inference_uses_the_chosen_head(build_model, assert_test_mask_head_is_used, test_mask_head):
    model = build_model(TS_OPMASK, {"model.roi_head.test_mask_head": test_mask_head})
    assert_test_mask_head_is_used(model, test_mask_head, thr=0.5)


def test_full_predict_gives_image_sized_masks(build_model, partial_batch, predict):
    for out in predict(build_model(OPMASK), partial_batch()):
        pred = out.pred_instances
        assert pred.masks.shape == (len(pred.bboxes), SIZE, SIZE) and pred.masks.dtype == torch.bool
