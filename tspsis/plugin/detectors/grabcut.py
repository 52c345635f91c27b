"""Mask GrabCut (Table 1, "Mask GrabCut"; the baseline of Hu et al. 2018): a box detector whose masks
come from OpenCV's GrabCut initialised with each detected box, instead of a learned mask head.

* :func:`grabcut_masks`: GrabCut (``cv2.grabCut``, ``GC_INIT_WITH_RECT``) per box on one image.
* :class:`MaskGrabCut`: an mmdet two-stage detector (a Faster R-CNN: no mask head, so training is the
  box detector's alone) whose ``predict`` adds ``pred_instances.masks`` by GrabCut.

GrabCut runs on the image the detector saw — the network input, de-normalised and cropped to
``img_shape`` — resized to ``ori_shape`` when results are rescaled, so masks and boxes share the frame
of the original image. (This needs no files: in-memory batches work too.)

Choices the papers leave open: each box is segmented in a crop that extends the box by ``context``
times its width/height on every side (the background colour model is learned from that ring; GrabCut
on the whole image per box would be far slower); optionally the crop is shrunk to ``max_side`` pixels
for speed. Where GrabCut cannot run — a box under 2 pixels wide or high, or colour models that cannot
be fitted (e.g. too few distinct pixels) — the mask is the filled box. OpenCV's random generator is
reseeded before every call, so the masks are reproducible.
"""

from __future__ import annotations

import math
from typing import Optional

import cv2
import numpy as np
import torch
from torch import Tensor

from mmdet.models.detectors import TwoStageDetector
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

from tspsis.plugin.roi_heads.box_conditioned import given_box_results, uses_given_boxes

__all__ = ['MaskGrabCut', 'grabcut_masks']


def grabcut_masks(image: np.ndarray, boxes: np.ndarray, iterations: int = 5, context: float = 0.25,
                  max_side: Optional[int] = None) -> np.ndarray:
    """GrabCut foreground of each box.

    image: (H, W, 3) uint8 (channel order does not matter); boxes: (N, 4) xyxy in pixels;
    iterations: GrabCut iterations; context: margin around each box, as a fraction of its size;
    max_side: if set, crops whose longer side exceeds it are downscaled to it for GrabCut.
    Returns (N, H, W) bool; nothing outside a box is foreground.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'grabcut_masks: `image` must be (H, W, 3) uint8, got {image.shape} {image.dtype}')
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'grabcut_masks: `boxes` must be (N, 4), got shape {boxes.shape}')
    if iterations < 1 or context < 0 or (max_side is not None and max_side < 8):
        raise ValueError('grabcut_masks: need `iterations` >= 1, `context` >= 0 and `max_side` >= 8, got '
                         f'{iterations}, {context}, {max_side}')
    height, width = image.shape[:2]
    masks = np.zeros((len(boxes), height, width), dtype=bool)
    for mask, box in zip(masks, boxes.astype(np.float64)):
        x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
        x1, y1 = min(width, math.ceil(box[2])), min(height, math.ceil(box[3]))
        if x1 - x0 < 2 or y1 - y0 < 2:
            mask[y0:max(y0, y1), x0:max(x0, x1)] = True
            continue
        margin_x, margin_y = context * (box[2] - box[0]), context * (box[3] - box[1])
        cx0, cy0 = max(0, math.floor(box[0] - margin_x)), max(0, math.floor(box[1] - margin_y))
        cx1, cy1 = min(width, math.ceil(box[2] + margin_x)), min(height, math.ceil(box[3] + margin_y))
        foreground = _grabcut_crop(image[cy0:cy1, cx0:cx1], (x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0),
                                   iterations, max_side)
        if foreground is None:
            mask[y0:y1, x0:x1] = True
        else:
            mask[cy0:cy1, cx0:cx1] = foreground
    return masks


def _grabcut_crop(crop: np.ndarray, rect: tuple, iterations: int,
                  max_side: Optional[int]) -> Optional[np.ndarray]:
    """GrabCut of one crop (h, w, 3) with the box rect (x0, y0, x1, y1) in crop pixels.

    Returns (h, w) bool, or None where GrabCut cannot run.
    """
    height, width = crop.shape[:2]
    x0, y0, x1, y1 = rect
    if (x0, y0, x1, y1) == (0, 0, width, height):  # no background pixel left: keep a 1-pixel ring
        if width < 3 or height < 3:
            return None
        x0, y0, x1, y1 = 1, 1, width - 1, height - 1
    scale = 1.0
    if max_side is not None and max(height, width) > max_side:
        scale = max_side / max(height, width)
        crop = cv2.resize(crop, (max(1, round(width * scale)), max(1, round(height * scale))),
                          interpolation=cv2.INTER_AREA)
        x0, y0 = int(x0 * scale), int(y0 * scale)
        x1 = min(crop.shape[1], max(x0 + 1, round(x1 * scale)))
        y1 = min(crop.shape[0], max(y0 + 1, round(y1 * scale)))
    labels = np.zeros(crop.shape[:2], np.uint8)
    bgd_model, fgd_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(np.ascontiguousarray(crop), labels, (x0, y0, x1 - x0, y1 - y0), bgd_model,
                    fgd_model, iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error:  # colour models that cannot be fitted
        return None
    foreground = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if scale != 1.0:
        foreground = cv2.resize(foreground.astype(np.uint8), (width, height),
                                interpolation=cv2.INTER_NEAREST).astype(bool)
    return foreground


@MODELS.register_module()
class MaskGrabCut(TwoStageDetector):
    """Faster R-CNN + GrabCut masks ("Mask GrabCut", Table 1).

    Args:
        grabcut: ``dict(iterations=5, context=0.25, max_side=None)``, see :func:`grabcut_masks`.
        Other arguments as mmdet's ``FasterRCNN`` (``roi_head`` without a mask head).
    """

    def __init__(self, backbone: ConfigType, rpn_head: ConfigType, roi_head: ConfigType,
                 train_cfg: ConfigType, test_cfg: ConfigType, neck: OptConfigType = None,
                 data_preprocessor: OptConfigType = None, grabcut: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(backbone=backbone, neck=neck, rpn_head=rpn_head, roi_head=roi_head,
                         train_cfg=train_cfg, test_cfg=test_cfg, init_cfg=init_cfg,
                         data_preprocessor=data_preprocessor)
        if self.roi_head.with_mask:
            raise ValueError('MaskGrabCut: GrabCut replaces the mask head; set `roi_head.mask_head` '
                             'and `roi_head.mask_roi_extractor` to None')
        self.grabcut = {'iterations': 5, 'context': 0.25, 'max_side': None, **(grabcut or {})}
        unknown = set(self.grabcut) - {'iterations', 'context', 'max_side'}
        if unknown:
            raise ValueError(f'MaskGrabCut: unknown `grabcut` keys {sorted(unknown)}')

    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Boxes from the detector (or the given boxes of the box-conditioned track), then
        ``pred_instances.masks`` (N, H, W) bool from GrabCut."""
        if uses_given_boxes(self.test_cfg.get('rcnn')):
            results = given_box_results(self.rpn_head.predict(None, batch_data_samples))
            for res, sample in zip(results, batch_data_samples):
                if rescale:
                    res.bboxes = res.bboxes / res.bboxes.new_tensor(sample.metainfo['scale_factor']).repeat(1, 2)
                sample.pred_instances = res
        else:
            batch_data_samples = super().predict(batch_inputs, batch_data_samples, rescale=rescale)
        return self.add_grabcut_masks(batch_inputs, batch_data_samples, rescale=rescale)

    def add_grabcut_masks(self, batch_inputs: Tensor, batch_data_samples: SampleList,
                          rescale: bool = True) -> SampleList:
        """Set ``pred_instances.masks`` of each sample from GrabCut on its image.

        batch_inputs: (B, 3, H_pad, W_pad), as given to the detector; the samples' ``pred_instances.bboxes``
        are in the ``ori_shape`` frame if ``rescale`` else in the ``img_shape`` frame (mmdet's convention).
        """
        for image, sample in zip(self._uint8_images(batch_inputs), batch_data_samples):
            height, width = sample.metainfo['img_shape']
            image = image[:height, :width]
            if rescale:
                height, width = sample.metainfo['ori_shape']
                image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
            pred = sample.pred_instances
            masks = grabcut_masks(image, pred.bboxes.detach().cpu().numpy(), **self.grabcut)
            pred.masks = torch.from_numpy(masks).to(pred.bboxes.device)
        return batch_data_samples

    def _uint8_images(self, batch_inputs: Tensor) -> np.ndarray:
        """(B, H_pad, W_pad, 3) uint8: the inputs with the data preprocessor's normalisation undone."""
        images = batch_inputs.detach().float()
        preprocessor = self.data_preprocessor
        if getattr(preprocessor, '_enable_normalize', False):
            images = images * preprocessor.std + preprocessor.mean
        images = images.round().clamp(0, 255).to(torch.uint8)
        return np.ascontiguousarray(images.permute(0, 2, 3, 1).cpu().numpy())
