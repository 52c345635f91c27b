"""How good the pseudo masks are while the student learns from them: their IoU with the unseen ground truth.

The training file of a partially supervised run has no mask for unseen objects (that is the setting), so nothing
in training can score the pseudo masks r(Mt). :class:`PseudoMaskMonitorHook` reads the unseen masks from the
*full* annotation file next to it (``annotations/train.json`` of the synthetic benchmark), outside the data
pipeline and after the iteration's update, and logs one number: the mean IoU of the last batch's pseudo masks
with the ground truth of their objects, on the student's RoI grid (the targets as the student sees them). It
never touches the model's inputs, losses or gradients (tested: scrambled unseen masks leave training
bit-identical), so it measures the method without becoming part of it.

Config (the box-conditioned track's mixin)::

    custom_hooks = [dict(type='PseudoMaskMonitorHook', interval=25)]   # full file: annotations/train.json

Logged as ``pseudo_mask_iou`` (percent) in the training log and ``vis_data/scalars.json``, and its mean over the
last ``summary_iters`` iterations recorded in metrics.json's ``training`` block
(``tspsis.plugin.hooks.training_summary``); heads without pseudo masks (the baseline, the Oracle) log nothing.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import mmcv
import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from pycocotools.coco import COCO

from mmdet.structures.mask import BitmapMasks

from tspsis.plugin.hooks.training_summary import record_training_summary, tail_mean

__all__ = ['PseudoMaskMonitorHook', 'pseudo_mask_iou']


def pseudo_mask_iou(pseudo: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-RoI IoU of two (U, h, w) bool mask stacks, (U,) in [0, 1]; 1 where both are empty."""
    inter = (pseudo & truth).flatten(1).sum(1).float()
    union = (pseudo | truth).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


@HOOKS.register_module()
class PseudoMaskMonitorHook(Hook):
    """Every ``interval`` training iterations: IoU of the unseen pseudo masks of the batch with their ground truth.

    Args:
        interval: iterations between two measurements (each decodes the masks of ~16 images).
        ann_file: the annotation file *with* the unseen masks, relative to the training dataset's ``data_root``
            (or absolute). Objects are matched to RoIs by image, category and box (the box-conditioned track's
            RoIs are the ground-truth boxes; in the detector track a RoI takes the object of highest box IoU).
        summary_iters: the last iterations whose measurements are averaged into the training's summary
            (``pseudo_mask_iou`` = {"mean", "measurements"}, percent) when training ends.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 25, ann_file: str = 'annotations/train.json', summary_iters: int = 100) -> None:
        if interval < 1:
            raise ValueError(f'PseudoMaskMonitorHook: `interval` must be >= 1, got {interval}')
        self.interval = interval
        self.ann_file = ann_file
        self.summary_iters = summary_iters
        self._coco: COCO | None = None

    def before_train(self, runner) -> None:
        dataset = runner.train_dataloader.dataset
        path = Path(self.ann_file)
        if not path.is_absolute():
            path = Path(dataset.data_root or '') / path
        if not path.is_file():
            raise FileNotFoundError(f'PseudoMaskMonitorHook: {path}: annotation file not found (ann_file)')
        self._coco = COCO(str(path))
        self._cat_ids = list(dataset.cat_ids)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.interval) or self._coco is None:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        pseudo = getattr(getattr(model, 'roi_head', None), 'last_pseudo_masks', None)
        if pseudo is None or len(pseudo.rois) == 0:
            return
        truth = self._ground_truth(pseudo, data_batch['data_samples'], tuple(pseudo.masks.shape[-2:]))
        iou = pseudo_mask_iou(pseudo.masks.cpu(), truth)
        runner.message_hub.update_scalar('train/pseudo_mask_iou', 100.0 * float(iou.mean()))

    def after_train(self, runner) -> None:
        tail = tail_mean(runner, 'train/pseudo_mask_iou', max(1, self.summary_iters // self.interval))
        if tail is not None:
            record_training_summary(runner, 'pseudo_mask_iou', dict(mean=tail[0], measurements=tail[1]))

    def _ground_truth(self, pseudo, samples, size: tuple[int, int]) -> torch.Tensor:
        """(U, h, w) bool: each RoI's object mask from ``ann_file``, in the (flipped) training image, cropped
        and resized to the RoI as mmdet's mask targets are."""
        out = torch.zeros((len(pseudo.rois),) + size, dtype=torch.bool)
        rows_of = defaultdict(list)
        for row, image in enumerate(pseudo.img_idx.tolist()):
            rows_of[image].append(row)
        for image, rows in rows_of.items():
            meta = samples[image].metainfo
            height, width = meta['img_shape'][:2]
            anns = self._coco.loadAnns(self._coco.getAnnIds(imgIds=meta['img_id'], iscrowd=False))
            rois = pseudo.rois[rows].cpu()
            masks = []
            for roi, label in zip(rois, pseudo.labels[rows].tolist()):
                box = roi.numpy().copy()
                if meta.get('flip', False):  # back to the file's frame (horizontal: checked in _mask)
                    box[[0, 2]] = width - box[[2, 0]]
                box /= np.tile(np.asarray(meta.get('scale_factor', (1.0, 1.0)), np.float32), 2)
                candidates = [a for a in anns if a['category_id'] == self._cat_ids[label]]
                masks.append(self._mask(_best_match(box, candidates), height, width, meta))
            stack = BitmapMasks(np.stack(masks), height, width)
            resized = stack.crop_and_resize(rois.numpy(), size, np.arange(len(rows)), device='cpu').to_ndarray()
            out[rows] = torch.from_numpy(resized > 0)
        return out

    def _mask(self, ann: dict | None, height: int, width: int, meta: dict) -> np.ndarray:
        """The object's (height, width) uint8 mask in the training image: the file's, resized like the image
        and flipped like it."""
        if ann is None:
            return np.zeros((height, width), np.uint8)
        mask = self._coco.annToMask(ann)
        if mask.shape != (height, width):
            mask = mmcv.imresize(mask, (width, height), interpolation='nearest')
        if meta.get('flip', False):
            if meta.get('flip_direction', 'horizontal') != 'horizontal':
                raise ValueError(f"PseudoMaskMonitorHook: flip_direction {meta['flip_direction']!r} is not "
                                 "supported (RandomFlip's default 'horizontal' is)")
            mask = mask[:, ::-1].copy()
        return mask


def _best_match(box: np.ndarray, anns: list[dict]) -> dict | None:
    """The annotation whose box (COCO xywh) has the highest IoU with ``box`` (xyxy), None if none overlaps."""
    best, best_iou = None, 0.0
    for ann in anns:
        x, y, w, h = ann['bbox']
        iw = max(0.0, min(box[2], x + w) - max(box[0], x))
        ih = max(0.0, min(box[3], y + h) - max(box[1], y))
        inter = iw * ih
        iou = inter / ((box[2] - box[0]) * (box[3] - box[1]) + w * h - inter + 1e-9)
        if iou > best_iou:
            best, best_iou = ann, iou
    return best
