"""BoxInst's data preprocessor for partially annotated data (``PartialBoxInstDataPreprocessor``): box masks and
colour-similarity pairwise masks as mmdet's ``BoxInstDataPreprocessor``, plus the annotated masks of the partial
data set (``gt_instances.annotated_masks``; box-only instances have all-zero masks and ``has_mask`` False) and the
RGB images (for r = CRF). It needs no scikit-image: the LAB conversion is :func:`rgb_to_lab`, skimage's formulas."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdet.models.data_preprocessors import BoxInstDataPreprocessor
from mmdet.registry import MODELS
from mmdet.structures.mask import BitmapMasks

from tspsis.plugin.data_preprocessors.image_keeping import ImageKeepingDetDataPreprocessor
from tspsis.plugin.utils.partial_supervision import RGB_IMAGE_KEY

__all__ = ['ANNOTATED_MASKS', 'PartialBoxInstDataPreprocessor', 'rgb_to_lab']

ANNOTATED_MASKS = 'annotated_masks'  # gt_instances field set by PartialBoxInstDataPreprocessor

# skimage.color: sRGB (D65) -> CIE XYZ matrix and the D65 / 2-degree reference white.
_XYZ_FROM_RGB = ((0.412453, 0.357580, 0.180423),
                 (0.212671, 0.715160, 0.072169),
                 (0.019334, 0.119193, 0.950227))
_D65_WHITE = (0.95047, 1.0, 1.08883)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """CIE L*a*b* of sRGB colours, as ``skimage.color.rgb2lab`` (D65 illuminant, 2-degree observer).

    rgb: (..., 3, H, W) float in [0, 1]. Returns (..., 3, H, W) float: L in [0, 100], a and b roughly in
    [-128, 127].
    """
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    matrix = rgb.new_tensor(_XYZ_FROM_RGB)
    xyz = torch.einsum('ij,...jhw->...ihw', matrix, linear)
    xyz = xyz / rgb.new_tensor(_D65_WHITE)[:, None, None]
    f = torch.where(xyz > 0.008856, xyz.clamp(min=0) ** (1 / 3), 7.787 * xyz + 16 / 116)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def _box_masks(boxes: Tensor, height: int, width: int) -> Tensor:
    """(N, height, width) uint8 filled boxes, as BoxInstDataPreprocessor draws them.

    mmdet fills rows int(y1) .. int(y2 + 1) - 1 and columns int(x1) .. int(x2 + 1) - 1 (int() truncates).
    boxes: (N, 4) xyxy, inside the image.
    """
    start = boxes[:, :2].trunc().long()
    stop = (boxes[:, 2:] + 1).trunc().long()
    cols = torch.arange(width, device=boxes.device)
    rows = torch.arange(height, device=boxes.device)
    inside_x = (cols >= start[:, 0:1]) & (cols < stop[:, 0:1])  # (N, W)
    inside_y = (rows >= start[:, 1:2]) & (rows < stop[:, 1:2])  # (N, H)
    return (inside_y[:, :, None] & inside_x[:, None, :]).to(torch.uint8)


def _loaded_masks(data_sample):
    """The masks the pipeline loaded (BitmapMasks or PolygonMasks of N instances), before they become boxes."""
    gt = data_sample.gt_instances
    if 'masks' not in gt:
        raise ValueError('PartialBoxInstDataPreprocessor: training samples need gt_instances.masks; load them with '
                         "dict(type='LoadPartialAnnotations', with_bbox=True, with_mask=True)")
    return gt.masks


@MODELS.register_module()
class PartialBoxInstDataPreprocessor(ImageKeepingDetDataPreprocessor):
    """BoxInst's data preprocessor for partially annotated data.

    In training, for every image (as mmdet's ``BoxInstDataPreprocessor``, whose colour-similarity code it reuses):
    ``gt_instances.masks`` becomes the filled boxes (N, Hb, Wb) and ``gt_instances.pairwise_masks`` (N, K^2 - 1,
    Hb / s, Wb / s) marks the neighbour pairs of similar LAB colour (s = ``mask_stride``, K = ``pairwise_size``,
    Hb x Wb the padded batch shape). Beyond mmdet's:

    * ``gt_instances.annotated_masks``: the masks the pipeline loaded, padded to Hb x Wb (all-zero for box-only
      instances; ``has_mask`` says which are real). Training needs them: load with
      ``LoadPartialAnnotations(with_mask=True)``. ``ignored_instances`` (crowd annotations) with masks get their
      ``annotated_masks`` too: seen crowd masks clear pseudo masks.
    * ``gt_instances.metainfo['rgb_image']``: the RGB image (3, Hb, Wb) in [0, 255]
      (``ImageKeepingDetDataPreprocessor``), for r = CRF. The colour similarity is computed from it too, so it
      is right whether or not the config sets ``bgr_to_rgb`` (mmdet's takes the de-normalised input for RGB).
    * LAB from :func:`rgb_to_lab` instead of scikit-image (not installed here).

    Args (as ``BoxInstDataPreprocessor``): mask_stride, pairwise_size, pairwise_dilation, pairwise_color_thresh
    (similarity threshold tau), bottom_pixels_removed (rows at the image bottom left out of the pairwise term, a
    COCO annotation artefact); the rest goes to ``DetDataPreprocessor``.
    """

    get_images_color_similarity = BoxInstDataPreprocessor.get_images_color_similarity

    def __init__(self,
                 *args,
                 mask_stride: int = 4,
                 pairwise_size: int = 3,
                 pairwise_dilation: int = 2,
                 pairwise_color_thresh: float = 0.3,
                 bottom_pixels_removed: int = 10,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mask_stride = mask_stride
        self.pairwise_size = pairwise_size
        self.pairwise_dilation = pairwise_dilation
        self.pairwise_color_thresh = pairwise_color_thresh
        self.bottom_pixels_removed = bottom_pixels_removed

    def forward(self, data: dict, training: bool = False) -> dict:
        annotated = None
        if training:
            annotated = [_loaded_masks(sample) for sample in data['data_samples']]
        data = super().forward(data, training)
        if training:
            self._add_box_supervision(data['data_samples'], annotated)
        return data

    def _add_box_supervision(self, data_samples: list, annotated: list) -> None:
        """BoxInst's box masks and pairwise masks, and the loaded masks padded to the batch shape, per image."""
        batch_h, batch_w = data_samples[0].batch_input_shape
        start = self.mask_stride // 2
        for data_sample, masks in zip(data_samples, annotated):
            gt = data_sample.gt_instances
            rgb = gt.metainfo[RGB_IMAGE_KEY]  # (3, Hb, Wb) RGB in [0, 255]
            img_h, img_w = data_sample.img_shape[:2]
            valid = rgb.new_zeros((batch_h, batch_w))
            removed = int(self.bottom_pixels_removed * float(img_h) / float(batch_h))
            valid[:img_h - removed, :img_w] = 1
            valid = valid[start::self.mask_stride, start::self.mask_stride]

            small = F.avg_pool2d(rgb[None], kernel_size=self.mask_stride, stride=self.mask_stride)
            lab = rgb_to_lab(small.byte().float() / 255)  # mmdet rounds down to uint8 before rgb2lab
            similarity = self.get_images_color_similarity(lab, valid)  # (1, K^2 - 1, h, w)
            pairwise = (similarity >= self.pairwise_color_thresh).float()

            gt.masks = BitmapMasks(_box_masks(gt.bboxes, batch_h, batch_w).cpu().numpy(), batch_h, batch_w)
            gt.pairwise_masks = pairwise.expand(len(gt), -1, -1, -1).contiguous()
            gt.set_field(masks.pad((batch_h, batch_w)), ANNOTATED_MASKS)
            ignored = data_sample.get('ignored_instances')
            if ignored is not None and 'masks' in ignored:
                ignored.set_field(ignored.masks.pad((batch_h, batch_w)), ANNOTATED_MASKS)
