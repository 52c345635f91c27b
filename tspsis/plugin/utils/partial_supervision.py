"""What every partially supervised head shares (paper Sec. 3, 5.1): reading the per-instance ``has_mask`` flag
(and refusing a batch without it), the union of the seen masks that the cleaning uses (ignored/crowd instances
included), and the RGB images / crops that r = CRF needs (kept by the data preprocessors,
:mod:`tspsis.plugin.data_preprocessors`). The baseline heads use it without any teacher-student part."""

from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor
from torchvision.ops import roi_align

from mmdet.utils import InstanceList

__all__ = ['IGNORED_INSTANCES', 'RGB_IMAGE_KEY', 'has_mask_of', 'prepare_partial_instances', 'rgb_crops', 'rgb_images',
           'seen_union_masks']

RGB_IMAGE_KEY = 'rgb_image'  # gt_instances.metainfo key set by ImageKeepingDetDataPreprocessor (and BoxInst's)
IGNORED_INSTANCES = 'ignored_instances'  # gt_instances.metainfo key set by prepare_partial_instances

_MISSING_HAS_MASK = (
    '{owner}: `gt_instances.has_mask` is missing. Without it box-only (unseen-category) instances would train on '
    "the empty placeholder masks of the loader: pack the batch with dict(type='PackPartialDetInputs') after "
    "dict(type='LoadPartialAnnotations', ...) (mmdet's stock PackDetInputs drops the field), or set "
    'fully_supervised=True on the head if every instance has a mask.')


def has_mask_of(gt_instances: InstanceData, owner: str = 'tspsis') -> Tensor:
    """(N,) bool ``gt_instances.has_mask``; a ValueError naming the field and ``PackPartialDetInputs`` without it."""
    if 'has_mask' not in gt_instances:
        raise ValueError(_MISSING_HAS_MASK.format(owner=owner))
    return gt_instances.has_mask.bool()


def prepare_partial_instances(batch_data_samples: Sequence, *, fully_supervised: bool, owner: str) -> InstanceList:
    """Check (or, fully supervised, fill) ``has_mask`` of every image's instances, ignored ones included.

    Partially supervised (``fully_supervised=False``), a batch without ``gt_instances.has_mask`` raises (see
    :func:`has_mask_of`). Fully supervised, instances without the field count as mask-annotated (it is set to
    True), and a field that marks box-only instances raises. Each image's ``ignored_instances`` (mmdet packs crowd
    annotations there) is attached to its ``gt_instances`` as metainfo ``'ignored_instances'``, where
    :func:`seen_union_masks` finds the seen crowd masks for the cleaning. Returns the gt_instances.
    """
    batch_gt_instances = []
    for sample in batch_data_samples:
        gt = sample.gt_instances
        ignored = sample.get('ignored_instances')
        for instances in (gt, ignored):
            if instances is None or (instances is ignored and len(instances.keys()) == 0):
                continue
            if fully_supervised:
                if 'has_mask' not in instances:
                    instances.has_mask = torch.ones(len(instances), dtype=torch.bool,
                                                    device=instances.labels.device)
                elif not bool(instances.has_mask.all()):
                    raise ValueError(f'{owner}: fully_supervised=True, but gt_instances.has_mask marks box-only '
                                     'instances; use fully_supervised=False for partially annotated data')
            else:
                has_mask_of(instances, owner)
        if ignored is not None:  # by reference: set_metainfo would deep-copy the masks every iteration
            gt.set_field(ignored, IGNORED_INSTANCES, field_type='metainfo')
        batch_gt_instances.append(gt)
    return batch_gt_instances


def seen_union_masks(batch_gt_instances: InstanceList, field: str = 'masks') -> Tensor:
    """(B, H, W) bool: per image the union of its seen-category ground-truth masks, zero-padded to the largest.

    Seen = ``has_mask``; the image's ignored instances (crowd annotations, metainfo ``'ignored_instances'`` set by
    :func:`prepare_partial_instances`) count too: a seen crowd region is no unseen object's pixel. Box-only
    instances never enter, so their (absent) masks cannot leak into the cleaning. field: the masks to read
    (BitmapMasks or PolygonMasks): ``'masks'``, or BoxInst's ``'annotated_masks'``.
    """
    unions = []
    for gt in batch_gt_instances:
        parts = [gt]
        ignored = gt.metainfo.get(IGNORED_INSTANCES)
        if ignored is not None and len(ignored) > 0:
            parts.append(ignored)
        union = None
        for instances in parts:
            masks = torch.from_numpy(instances.get(field).to_ndarray()).bool()  # (N, H, W); N may be 0
            part = masks[has_mask_of(instances).cpu()].any(0)
            union = part if union is None else _padded_or(union, part)
        unions.append(union)
    height = max(u.shape[0] for u in unions)
    width = max(u.shape[1] for u in unions)
    return torch.stack([F.pad(u, (0, width - u.shape[1], 0, height - u.shape[0])) for u in unions])


def _padded_or(first: Tensor, second: Tensor) -> Tensor:
    """Union of two (H, W) bool masks of possibly different sizes, zero-padded to the larger."""
    height, width = max(first.shape[0], second.shape[0]), max(first.shape[1], second.shape[1])
    pad = lambda m: F.pad(m, (0, width - m.shape[1], 0, height - m.shape[0]))  # noqa: E731
    return pad(first) | pad(second)


def rgb_images(batch_gt_instances: InstanceList, preprocessor: str) -> Tensor:
    """(B, 3, H, W) the RGB [0, 255] training images kept by the data preprocessor (for r = CRF)."""
    try:
        return torch.stack([gt.metainfo[RGB_IMAGE_KEY] for gt in batch_gt_instances])
    except KeyError:
        raise ValueError("PseudoLabeler: post_process type 'crf' needs the training images; set the model's "
                         f"data_preprocessor type to '{preprocessor}'") from None


def rgb_crops(images: Tensor, boxes: Tensor, img_idx: Tensor, size: Tuple[int, int]) -> Tensor:
    """(U, 3, *size) RGB crops RoI-aligned (aligned=True, as the mask targets) on boxes (U, 4) xyxy in pixels.

    images: (B, 3, H, W); img_idx: (U,) image of each box.
    """
    rois = torch.cat([img_idx.to(images.dtype)[:, None], boxes.to(images.dtype)], dim=1)
    return roi_align(images, rois, tuple(size), spatial_scale=1.0, sampling_ratio=0, aligned=True)
