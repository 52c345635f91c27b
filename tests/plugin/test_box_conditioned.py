"""Box-conditioned track (tspsis.plugin.roi_heads.box_conditioned): RoIs = ground-truth boxes in training and at test.

Checks: the mask heads see exactly the given boxes; unseen-category masks cannot leak into training in this mode;
at test every given box gets one detection with its own label and a mask scored by its mean foreground
probability; GrabCut segments the given boxes; jittered proposals stay inside the image.
"""
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmdet")
from mmengine.config import Config  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from tspsis.plugin.roi_heads.box_conditioned import GroundTruthProposals, mask_scores  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
BASE_MODEL = CONFIGS / "_base_/models/mask-rcnn_r18-scratch_fpn.py"
TRACK = CONFIGS / "_base_/tracks/box-conditioned.py"
SIZING = CONFIGS / "_base_/schedules/box-cpu_1xb16.py"
PSIS_HEAD = dict(type="PartialRoIHead", mask_head=dict(class_agnostic=True))
TS_HEAD = dict(type="TeacherStudentRoIHead")
pytestmark = [pytest.mark.usefixtures("single_thread"), pytest.mark.slow]  # builds and steps models


@pytest.fixture(scope="module")
def box_conditioned(load_config, build_model):
    """build(roi_head, crf=False): the R18-FPN Mask R-CNN with `roi_head`, turned into the box-conditioned track
    (and its CPU sizing: 32 channels, 7x7 mask RoIs)."""
    def build(roi_head: dict, crf: bool = False):
        cfg = load_config(BASE_MODEL)
        for mixin in (TRACK, SIZING):
            cfg.merge_from_dict(Config.fromfile(str(mixin)).to_dict())
        options = {"model.roi_head": roi_head}
        if crf:
            options["model.data_preprocessor.type"] = "ImageKeepingDetDataPreprocessor"
        return build_model(cfg, options)
    return build


def test_mask_heads_train_on_exactly_the_ground_truth_boxes(box_conditioned, partial_batch, partial_objects,
                                                          losses_and_grads):
    model = box_conditioned(PSIS_HEAD)
    seen_rois = []
    hook = model.roi_head.mask_roi_extractor.register_forward_hook(lambda m, args, out: seen_rois.append(args[1]))
    losses, _ = losses_and_grads(model, partial_batch())
    hook.remove()
    expected = torch.cat([torch.tensor([[i, *box] for box, _, _ in objects], dtype=torch.float32)
                          for i, objects in enumerate(partial_objects)])
    assert len(seen_rois) == 1 and torch.equal(seen_rois[0], expected)
    assert "loss_rpn_cls" not in losses and torch.isfinite(losses["loss_mask"])


@pytest.mark.parametrize("roi_head, crf", [
    (PSIS_HEAD, False),
    (dict(TS_HEAD, pseudo_labeler=dict(type="PseudoLabeler", post_process=dict(type="threshold"))), False),
    (dict(TS_HEAD, pseudo_labeler=dict(type="PseudoLabeler", post_process=dict(type="crf"))), True),
], ids=["baseline", "ts-threshold", "ts-crf"])
def test_unseen_masks_do_not_leak(box_conditioned, partial_batch, check_unseen_masks_do_not_leak, roi_head, crf):
    zero_losses, changed_losses = check_unseen_masks_do_not_leak(box_conditioned(roi_head, crf=crf), partial_batch)
    mask_keys = [k for k in zero_losses if k.startswith("loss_mask")]
    assert mask_keys and all(not torch.equal(zero_losses[k], changed_losses[k]) for k in mask_keys)


@pytest.mark.parametrize("test_mask_head", ["student", "teacher"])
def test_predicts_one_scored_mask_per_given_box(box_conditioned, partial_batch, partial_objects, predict,
                                                test_mask_head):
    model = box_conditioned(dict(TS_HEAD, test_mask_head=test_mask_head,
                                 pseudo_labeler=dict(type="PseudoLabeler", post_process=dict(type="threshold"))))
    tested, other = ((model.roi_head.mask_head, model.roi_head.teacher_head) if test_mask_head == "student"
                     else (model.roi_head.teacher_head, model.roi_head.mask_head))
    for head, bias in ((tested, 3.0), (other, -50.0)):
        torch.nn.init.zeros_(head.conv_logits.weight)
        torch.nn.init.constant_(head.conv_logits.bias, bias)
    results = predict(model, partial_batch())
    for result, objects in zip(results, partial_objects):
        pred = result.pred_instances
        assert torch.equal(pred.bboxes, torch.tensor([box for box, _, _ in objects], dtype=torch.float32))
        assert pred.labels.tolist() == [label for _, label, _ in objects]
        # the tested head says sigmoid(3) everywhere: each mask fills its box, scored by that probability
        assert torch.allclose(pred.scores, torch.sigmoid(torch.tensor(3.0)).expand(len(objects)))
        for mask, (x0, y0, x1, y1) in zip(pred.masks, (box for box, _, _ in objects)):
            # pasting interpolates: the box's corner pixels may fall below 0.5, nothing outside it is set
            inside = mask[y0:y1, x0:x1]
            assert mask.dtype == torch.bool and inside.float().mean() > 0.97 and mask.sum() == inside.sum()


def test_mask_scores_hand_values():
    logit = torch.logit(torch.tensor([1 - 1e-6, 0.6, 0.2, 0.0 + 1e-6]))
    logits = torch.stack([logit.reshape(2, 2), torch.full((2, 2), -5.0)])[None].repeat(2, 1, 1, 1)  # (2, 2, 2, 2)
    scores = mask_scores(logits, torch.tensor([0, 1]))
    assert scores.tolist() == pytest.approx([(1 + 0.6) / 2, 0.0], abs=1e-5)  # channel 1: no foreground pixel
    agnostic = mask_scores(logits[:, :1], torch.tensor([5, 7]))  # one channel: whatever the labels
    assert agnostic.tolist() == pytest.approx([0.8, 0.8], abs=1e-5)


def test_jittered_proposals_stay_in_the_image():
    head = GroundTruthProposals(jitter=0.3)
    boxes = torch.tensor([[0.0, 0.0, 20.0, 10.0], [30.0, 40.0, 64.0, 64.0]])
    sample = InstanceData(metainfo=dict(img_shape=(64, 64)))
    sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.tensor([1, 2]))
    torch.manual_seed(0)
    _, [proposals] = head.loss_and_predict(None, [sample])
    moved = proposals.bboxes
    assert not torch.equal(moved, boxes)
    assert (moved >= 0).all() and (moved <= 64).all() and (moved[:, 2:] > moved[:, :2]).all()
    with pytest.raises(ValueError, match="jitter"):
        GroundTruthProposals(jitter=0.5)


def test_grabcut_segments_the_given_boxes(load_config, build_model, partial_batch, predict):
    cfg = load_config(CONFIGS / "grabcut/grabcut-faster-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py")
    cfg.merge_from_dict(Config.fromfile(str(TRACK)).to_dict())
    model = build_model(cfg)
    objects = ((((8, 8, 40, 40), 3, False),),)  # one image, one box-only object
    results = predict(model, partial_batch(objects=objects, images="boxes"))
    pred = results[0].pred_instances
    assert pred.labels.tolist() == [3] and torch.equal(pred.bboxes, torch.tensor([[8.0, 8.0, 40.0, 40.0]]))
    inside = pred.masks[0, 8:40, 8:40].float().mean()
    assert inside > 0.7 and not pred.masks[0, :, 44:].any()  # the painted square, nothing far outside


def test_the_oracle_predicts_the_given_boxes_too(load_config, build_model, partial_batch, partial_objects, predict):
    cfg = load_config(CONFIGS / "mask_rcnn/oracle-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py")
    for mixin in (TRACK, SIZING):
        cfg.merge_from_dict(Config.fromfile(str(mixin)).to_dict())
    results = predict(build_model(cfg), partial_batch())
    for result, objects in zip(results, partial_objects):  # one detection per given box, its own label
        assert result.pred_instances.labels.tolist() == [label for _, label, _ in objects]
