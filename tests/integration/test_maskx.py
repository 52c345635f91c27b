"""MaskX R-CNN (tspsis.models.maskx) in a tiny R18-FPN model on CPU.

Checks: T maps every class's detection weights to a (C, D) mask weight matrix; the mask head's generated
1x1 convolution and MLP branch on hand-made numbers; masks of unseen objects never enter the loss, and the
mask loss trains T but not the box head (stop-gradient); one step on seen masks moves the mask weights of
classes without any mask (a plain class-specific head cannot), and detections of those classes get their
own masks; the configs build and the synthetic ones train a step.
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
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from tspsis.models.maskx import MaskXMaskHead, WeightTransfer  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
MASKX = CONFIGS / "_base_/models/maskx-rcnn_r18_fpn_scratch.py"
NUM_CLASSES = 24
WIDTH = 64  # mask feature width D of the CPU-sized model
BOX_WIDTH = 256  # fc width of its box head: w_det^c has 256 + 4 x 256 values ('cls+box')
SIZE = 64
# (box xyxy, label, has_mask) per image; labels 5 and 3 have boxes only, the rest of 0..23 nothing at all.
OBJECTS = [
    [([4, 4, 40, 44], 0, True), ([20, 16, 60, 60], 5, False), ([30, 2, 62, 28], 7, True)],
    [([8, 10, 56, 50], 3, False), ([2, 30, 30, 62], 11, True)],
]
SEEN = [0, 7, 11]
PLAIN_SGD = dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=0.01))  # no decay: untouched rows stay

pytestmark = pytest.mark.usefixtures("single_thread")


def build_model(base: Path = MASKX, **roi_head):
    """The CPU-sized model of `base` with RoI sampling cut down for speed."""
    register_all_modules()
    cfg = Config.fromfile(str(base))
    cfg.merge_from_dict({"model.roi_head": roi_head, "model.train_cfg.rcnn.sampler.num": 32,
                         "model.train_cfg.rpn_proposal.max_per_img": 64, "model.test_cfg.rpn.max_per_img": 64})
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def make_batch(unseen: str = "zero") -> dict:
    """Seen objects' masks are ellipses in their boxes; unseen (box-only) ones hold zeros or noise."""
    rng, noise = np.random.default_rng(0), np.random.default_rng(1)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    inputs, samples = [], []
    for objects in OBJECTS:
        masks = np.zeros((len(objects), SIZE, SIZE), np.uint8)
        for i, ((x0, y0, x1, y1), _, has_mask) in enumerate(objects):
            if has_mask:
                cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
                masks[i] = ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1
            elif unseen == "random":
                masks[i] = noise.integers(0, 2, (SIZE, SIZE))
        sample = DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE), scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([box for box, _, _ in objects], dtype=torch.float32),
            labels=torch.tensor([label for _, label, _ in objects]), masks=BitmapMasks(masks, SIZE, SIZE),
            has_mask=torch.tensor([has for _, _, has in objects]))
        samples.append(sample)
        inputs.append(torch.from_numpy(rng.integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8)))
    return dict(inputs=inputs, data_samples=samples)


def losses_of(model, batch: dict) -> dict:
    """One training forward with a fixed seed (the RoI sampler is random)."""
    model.train()
    model.zero_grad(set_to_none=True)
    data = model.data_preprocessor(batch, training=True)
    torch.manual_seed(1)
    losses = model(**data, mode="loss")
    return {k: torch.stack(v).sum() if isinstance(v, list) else v for k, v in losses.items()}


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
def test_weight_transfer_output_per_class(det_weights, length):
    head = build_model(det_weights=det_weights).roi_head
    assert head.detection_weights().shape == (NUM_CLASSES, length)
    assert head.segmentation_weights().shape == (NUM_CLASSES, WIDTH)  # (C, D)
    mask_preds = head.mask_head(torch.zeros(2, WIDTH, 14, 14), head.segmentation_weights())
    assert mask_preds.shape == (2, NUM_CLASSES, 28, 28)


def test_bad_options_name_the_field():
    with pytest.raises(ValueError, match="det_weights"):
        build_model(det_weights="glove")
    with pytest.raises(ValueError, match="mask_head.type"):
        build_model(CONFIGS / "_base_/models/mask-rcnn_r18_fpn_scratch.py", type="MaskXRoIHead")


# ------------------------------------------------------------------------------------- training
def test_unseen_masks_do_not_leak():
    model = build_model()
    zero, noisy = losses_of(model, make_batch("zero")), losses_of(model, make_batch("random"))
    assert {"loss_cls", "loss_bbox", "loss_mask"} <= set(zero) and zero.keys() == noisy.keys()
    assert all(torch.equal(zero[k], noisy[k]) for k in zero)
    assert math.isfinite(zero["loss_mask"].item()) and zero["loss_mask"] > 0


@pytest.mark.parametrize("stop_det_grad", [True, False])
def test_mask_loss_trains_t_and_stops_at_the_detection_weights(stop_det_grad):
    model = build_model(stop_det_grad=stop_det_grad)
    losses_of(model, make_batch())["loss_mask"].backward()
    head = model.roi_head
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.weight_transfer.parameters())
    det_grads = [head.bbox_head.fc_cls.weight.grad, head.bbox_head.fc_reg.weight.grad]
    if stop_det_grad:
        assert det_grads == [None, None]
    else:
        assert all(g is not None and g.abs().sum() > 0 for g in det_grads)


def one_step(model) -> None:
    model.train()
    torch.manual_seed(1)
    model.train_step(make_batch(), build_optim_wrapper(model, PLAIN_SGD))


def test_classes_without_masks_get_trained_mask_weights():
    without_masks = [c for c in range(NUM_CLASSES) if c not in SEEN]
    model = build_model()
    before = model.roi_head.segmentation_weights().detach().clone()
    one_step(model)
    after = model.roi_head.segmentation_weights().detach()
    assert all(not torch.equal(before[c], after[c]) for c in without_masks)  # through T

    # a plain class-specific mask head only updates the channels of classes with masks
    plain = build_model(CONFIGS / "_base_/models/mask-rcnn_r18_fpn_scratch.py", type="PartialRoIHead")
    logits = plain.roi_head.mask_head.conv_logits
    before = logits.weight.detach().clone()
    one_step(plain)
    assert all(torch.equal(before[c], logits.weight[c]) for c in without_masks)
    assert all(not torch.equal(before[c], logits.weight[c]) for c in SEEN)


def predict_soft_masks(model, labels: list) -> torch.Tensor:
    """(images, 2, SIZE, SIZE) soft masks (uint8 probability x 255) of two fixed boxes with the given labels."""
    model.eval()
    model.roi_head.test_cfg.mask_thr_binary = -1
    data = model.data_preprocessor(make_batch(), training=False)
    with torch.no_grad():
        feats = model.extract_feat(data["inputs"])
        results = [InstanceData(bboxes=torch.tensor([[4.0, 4, 40, 44], [20, 16, 60, 60]]),
                                labels=torch.tensor(labels), scores=torch.tensor([0.9, 0.8]))
                   for _ in data["data_samples"]]
        results = model.roi_head.predict_mask(feats, [s.metainfo for s in data["data_samples"]], results,
                                              rescale=True)
    return torch.stack([res.masks for res in results])


def test_unseen_detections_get_the_mask_of_their_own_class():
    model = build_model()
    one_step(model)
    seen_label = predict_soft_masks(model, [0, 5])
    unseen_label = predict_soft_masks(model, [20, 5])  # class 20 has never had a mask
    assert seen_label.shape == (2, 2, SIZE, SIZE)
    assert not torch.equal(seen_label[:, 0], unseen_label[:, 0])  # its own generated weights w_seg^20
    assert torch.equal(seen_label[:, 1], unseen_label[:, 1])
    inside = unseen_label[:, 0, 4:44, 4:40].float()
    assert inside.std() > 0  # a mask, not a constant


def test_full_predict_gives_image_sized_masks():
    model = build_model()
    model.eval()
    with torch.no_grad():
        outputs = model(**model.data_preprocessor(make_batch(), training=False), mode="predict")
    for out in outputs:
        pred = out.pred_instances
        assert pred.masks.shape == (len(pred.bboxes), SIZE, SIZE) and pred.masks.dtype == torch.bool


# -------------------------------------------------------------------------------------- configs
NAMES = sorted(p.name for p in CONFIGS.glob("maskx-rcnn_*.py"))


def test_every_setting_and_direction_has_a_config():
    assert set(NAMES) == {f"maskx-rcnn_{setting}-{direction}.py"
                          for setting in ("r50_fpn_1x_coco", "r18_fpn_cpu_synth", "r18_fpn_gpu_synth")
                          for direction in ("voc2nonvoc", "nonvoc2voc")}


@pytest.mark.parametrize("name", NAMES)
def test_config_builds_and_trains(name):
    register_all_modules()
    cfg = Config.fromfile(str(CONFIGS / name))
    cfg.model.backbone.init_cfg = None  # no ImageNet download in tests
    seen = "voc" if "-voc2nonvoc" in name else "nonvoc"
    assert cfg.train_dataloader.dataset.ann_file.endswith(f"_{seen}.json")  # masks of seen categories only
    assert cfg.val_evaluator.manifest.endswith(f"_{seen}.manifest.json")
    roi_head = cfg.model.roi_head
    assert roi_head.type == "MaskXRoIHead" and roi_head.mask_head.type == "MaskXMaskHead"
    assert roi_head.det_weights == "cls+box" and roi_head.stop_det_grad  # Hu et al.'s final model
    if "_coco-" in name:
        head = MODELS.build(roi_head)
        assert head.detection_weights().shape == (80, 1024 + 4 * 1024)
        assert head.segmentation_weights().shape == (80, 256)
        return
    cfg.merge_from_dict({"model.train_cfg.rpn_proposal.max_per_img": 64, "model.train_cfg.rcnn.sampler.num": 32,
                         "optim_wrapper.type": "OptimWrapper"})  # AMP needs a GPU
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    log_vars = model.train_step(make_batch(), build_optim_wrapper(model, cfg.optim_wrapper))
    assert math.isfinite(log_vars["loss"].item()) and "loss_mask" in log_vars
    changed = {n.split(".")[1] for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    assert {"bbox_head", "mask_head", "weight_transfer"} <= changed
