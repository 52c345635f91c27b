"""The MMDetection 3.3 stack works on this machine: mmcv ops, `mmdet::` config inheritance, Mask R-CNN."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

mmdet = pytest.importorskip("mmdet")
from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.structures.mask import BitmapMasks  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_mmcv_ops_run():
    from mmcv.ops import RoIAlign, nms

    feats = torch.arange(16.0).view(1, 1, 4, 4)
    rois = torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]])
    out = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=1, aligned=True)(feats, rois)
    # aligned RoIAlign with one sample per bin reads the bin centres: pixels (0.5,0.5)->(1,1) etc. minus 0.5
    assert torch.allclose(out.flatten(), torch.tensor([2.5, 4.5, 10.5, 12.5]))
    boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 1, 10, 10], [20.0, 20, 30, 30]])
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]


def test_torchvision_roi_align_equals_mmcv_forward_and_backward():
    """The synthetic configs use RoIAlign(use_torchvision=True) for speed; it must be the same operator."""
    from mmcv.ops import RoIAlign

    gen = torch.Generator().manual_seed(0)
    corners = torch.rand(300, 2, generator=gen) * 140
    rois = torch.cat([torch.randint(0, 2, (300, 1), generator=gen).float(), corners,
                      (corners + 4 + torch.rand(300, 2, generator=gen) * 60).clamp(max=160)], dim=1)
    feats = torch.randn(2, 8, 40, 40, generator=gen, requires_grad=True)
    weights = torch.randn(300, 8, 14, 14, generator=gen)
    results = []
    for use_torchvision in (False, True):
        out = RoIAlign(14, 0.25, 0, aligned=True, use_torchvision=use_torchvision)(feats, rois.clone())
        results.append((out, *torch.autograd.grad((out * weights).sum(), feats)))
    (out_mmcv, grad_mmcv), (out_tv, grad_tv) = results
    assert torch.allclose(out_mmcv, out_tv, atol=1e-5) and torch.allclose(grad_mmcv, grad_tv, atol=1e-5)
    assert out_mmcv.abs().sum() > 0 and grad_mmcv.abs().sum() > 0


def test_config_inherits_from_mmdet_package():
    cfg = Config.fromfile(str(CONFIGS / "mask_rcnn" / "mask-rcnn_r18-scratch_fpn_smoke.py"))
    assert cfg.model.type == "MaskRCNN"  # from mmdet::_base_/models/mask-rcnn_r50_fpn.py
    assert cfg.model.backbone.depth == 18 and cfg.model.backbone.init_cfg is None
    assert cfg.model.test_cfg.rcnn.max_per_img == 150


def _batch(num_images=2, size=96, seed=0):
    rng = np.random.default_rng(seed)
    samples, images = [], []
    for _ in range(num_images):
        boxes, masks = [], []
        for _ in range(3):
            x0, y0 = rng.integers(0, size // 2, 2)
            w, h = rng.integers(16, size // 2, 2)
            m = np.zeros((size, size), np.uint8)
            m[y0:y0 + h, x0:x0 + w] = 1
            boxes.append([x0, y0, x0 + w, y0 + h])
            masks.append(m)
        sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size),
                                             scale_factor=(1.0, 1.0), batch_input_shape=(size, size)))
        sample.gt_instances = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32),
                                           labels=torch.tensor(rng.integers(0, 24, 3)),
                                           masks=BitmapMasks(np.stack(masks), size, size))
        samples.append(sample)
        images.append(torch.from_numpy(rng.integers(0, 255, (3, size, size), dtype=np.uint8)))
    return dict(inputs=images, data_samples=samples)


@pytest.mark.slow  # trains
def test_mask_rcnn_from_scratch_trains_and_predicts_on_cpu():
    register_all_modules()
    torch.manual_seed(0)
    cfg = Config.fromfile(str(CONFIGS / "mask_rcnn" / "mask-rcnn_r18-scratch_fpn_smoke.py"))
    model = MODELS.build(cfg.model)
    optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    model.train()
    data = model.data_preprocessor(_batch(), training=True)
    losses = model(**data, mode="loss")
    assert {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "loss_mask"} <= set(losses)
    total, _ = model.parse_losses(losses)
    assert math.isfinite(total.item())
    total.backward()
    optim.step()

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_batch(num_images=1, seed=1), training=False)
        (pred,) = model(**data, mode="predict")
    masks = pred.pred_instances.masks
    assert masks.dtype == torch.bool and masks.shape[1:] == (96, 96)
    assert len(pred.pred_instances.scores) <= 150
