"""MaskX R-CNN (tspsis.plugin.roi_heads.maskx) in a tiny R18-FPN model on CPU.

Checks: T maps every class's detection weights to a (C, D) mask weight matrix; the mask head's generated
1x1 convolution and MLP branch on hand-made numbers; masks of unseen objects never enter the loss, and the
mask loss trains T but not the box head (stop-gradient); one step on seen masks moves the mask weights of
classes without any mask (a plain class-specific head cannot), and detections of those classes get their
own masks. The configs: tests/repo/test_configs.py.
"""
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmdet")

from tspsis.plugin.roi_heads.maskx import MaskXMaskHead, WeightTransfer  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
MASKX = CONFIGS / "maskx_rcnn/maskx-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"
MASK_RCNN = CONFIGS / "_base_/models/mask-rcnn_r18-scratch_fpn.py"
NUM_CLASSES = 24
WIDTH = 64  # mask feature width D of the CPU-sized model
BOX_WIDTH = 256  # fc width of its box head: w_det^c has 256 + 4 x 256 values ('cls+box')
SIZE = 64
SEEN = [0, 7, 11]  # the labels with masks in conftest's partial batch; 5 and 3 have boxes only, the rest nothing
PLAIN_SGD = dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=0.01))  # no decay: untouched rows stay

pytestmark = [pytest.mark.usefixtures("single_thread"), pytest.mark.slow]  # builds and steps models


@pytest.fixture
def sgd_step(partial_batch, train_one_step):
    """One plain-SGD step on the partial batch (torch.manual_seed(1): the RoI sampler is random)."""
    def step(model) -> None:
        torch.manual_seed(1)
        train_one_step(model, partial_batch(), PLAIN_SGD)
    return step


# ------------------------------------------------------------------------------------- modules
def test_weight_transfer_is_one_mlp_for_every_class():
    transfer = WeightTransfer(in_channels=10, out_channels=4, hidden_channels=6)
    layers = list(transfer.mlp)
    assert [type(m).__name__ for m in layers] == ["Linear", "LeakyReLU", "Linear"]
    assert layers[1].negative_slope == 0.1
    det_weights = torch.randn(7, 10)
    seg_weights = transfer(det_weights)
    assert seg_weights.shape == (7, 4)
    torch.testing.assert_close(seg_weights[3], transfer(det_weights[3:4])[0])


def test_mask_head_generated_conv_and_mlp_branch_by_hand():
    head = MaskXMaskHead(num_convs=0, roi_feat_size=1, in_channels=2, conv_out_channels=2, num_classes=3,
                         upsample_cfg=dict(type=None), class_agnostic_mlp=False)
    x = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
    class_weights = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # w_seg, (C, D)
    assert head(x, class_weights).flatten().tolist() == [1.0, 2.0, 3.0]  # no bias

    head = MaskXMaskHead(num_convs=0, roi_feat_size=1, in_channels=2, conv_out_channels=2, num_classes=3,
                         upsample_cfg=dict(type=None), class_agnostic_mlp=True)
    with torch.no_grad():
        head.mlp_branch.weight.fill_(1.0)
        head.mlp_branch.bias.fill_(0.5)
    assert head(x, class_weights).flatten().tolist() == [4.5, 5.5, 6.5]  # + (1 + 2 + 0.5) for every class
    with pytest.raises(ValueError, match="class_weights"):
        head(x, class_weights[:2])


@pytest.mark.parametrize("det_weights, length", [("cls", BOX_WIDTH), ("box", 4 * BOX_WIDTH),
                                                 ("cls+box", 5 * BOX_WIDTH)])
def test_weight_transfer_output_per_class(build_model, det_weights, length):
    head = build_model(MASKX, {"model.roi_head.det_weights": det_weights}).roi_head
    assert head.detection_weights().shape == (NUM_CLASSES, length)
    assert head.segmentation_weights().shape == (NUM_CLASSES, WIDTH)  # (C, D)
    mask_preds = head.mask_head(torch.zeros(2, WIDTH, 14, 14), head.segmentation_weights())
    assert mask_preds.shape == (2, NUM_CLASSES, 28, 28)


def test_bad_options_name_the_field(build_model):
    with pytest.raises(ValueError, match="det_weights"):
        build_model(MASKX, {"model.roi_head.det_weights": "glove"})
    with pytest.raises(ValueError, match="mask_head.type"):
        build_model(MASK_RCNN, {"model.roi_head.type": "MaskXRoIHead"})


# ------------------------------------------------------------------------------------- training
def test_unseen_masks_do_not_leak(build_model, partial_batch, losses_and_grads, assert_bitwise_equal):
    model = build_model(MASKX)
    zero, _ = losses_and_grads(model, partial_batch("zero"), backward=False)
    noisy, _ = losses_and_grads(model, partial_batch("random", noise_seed=1), backward=False)
    assert {"loss_cls", "loss_bbox", "loss_mask"} <= set(zero)
    assert_bitwise_equal(zero, noisy)
    assert math.isfinite(zero["loss_mask"].item()) and zero["loss_mask"] > 0


@pytest.mark.parametrize("stop_det_grad", [True, False])
def test_mask_loss_trains_t_and_stops_at_the_detection_weights(build_model, partial_batch, losses_and_grads,
                                                               stop_det_grad):
    model = build_model(MASKX, {"model.roi_head.stop_det_grad": stop_det_grad})
    losses_and_grads(model, partial_batch(), backward={"loss_mask"})
    head = model.roi_head
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.weight_transfer.parameters())
    det_grads = [head.bbox_head.fc_cls.weight.grad, head.bbox_head.fc_reg.weight.grad]
    if stop_det_grad:
        assert det_grads == [None, None]
    else:
        assert all(g is not None and g.abs().sum() > 0 for g in det_grads)


def test_classes_without_masks_get_trained_mask_weights(build_model, sgd_step):
    without_masks = [c for c in range(NUM_CLASSES) if c not in SEEN]
    model = build_model(MASKX)
    before = model.roi_head.segmentation_weights().detach().clone()
    sgd_step(model)
    after = model.roi_head.segmentation_weights().detach()
    assert all(not torch.equal(before[c], after[c]) for c in without_masks)  # through T

    # a plain class-specific mask head only updates the channels of classes with masks
    plain = build_model(MASK_RCNN, {"model.roi_head.type": "PartialRoIHead"})
    logits = plain.roi_head.mask_head.conv_logits
    before = logits.weight.detach().clone()
    sgd_step(plain)
    assert all(torch.equal(before[c], logits.weight[c]) for c in without_masks)
    assert all(not torch.equal(before[c], logits.weight[c]) for c in SEEN)


def test_unseen_detections_get_the_mask_of_their_own_class(build_model, partial_batch, sgd_step, predict_roi_masks):
    model = build_model(MASKX)
    sgd_step(model)
    seen_label = predict_roi_masks(model, partial_batch(), [0, 5], thr=-1)  # soft masks
    unseen_label = predict_roi_masks(model, partial_batch(), [20, 5], thr=-1)  # class 20 has never had a mask
    assert seen_label.shape == (2, 2, SIZE, SIZE)
    assert not torch.equal(seen_label[:, 0], unseen_label[:, 0])  # its own generated weights w_seg^20
    assert torch.equal(seen_label[:, 1], unseen_label[:, 1])
    inside = unseen_label[:, 0, 4:44, 4:40].float()
    assert inside.std() > 0  # a mask, not a constant


def test_full_predict_gives_image_sized_masks(build_model, partial_batch, predict):
    for out in predict(build_model(MASKX), partial_batch()):
        pred = out.pred_instances
        assert pred.masks.shape == (len(pred.bboxes), SIZE, SIZE) and pred.masks.dtype == torch.bool
