"""The paper's teacher-student RoI head (Sec. 4) on the partially supervised Mask R-CNN baseline.

:class:`TeacherStudentRoIHead`: a class-agnostic teacher mask head Ft and a class-specific student mask head Fs share
the mask RoI features (Eq. 2). Ft learns from seen masks (Eq. 5); Fs learns from seen masks and, for unseen objects,
from the teacher's post-processed and cleaned prediction r(Mt) (Eq. 3, 4, 6), made by the
:class:`~tspsis.plugin.task_modules.pseudo_labeler.PseudoLabeler`. Loss: Eq. 7. At test time only Fs predicts
(Sec. 4.3). Like every head here it reads ``gt_instances.has_mask`` and chooses its mask RoIs as its base,
:class:`~tspsis.plugin.roi_heads.partial_roi_head.PartialRoIHead`, does.

The data preprocessor that keeps the RGB training images for r = CRF is
:class:`tspsis.plugin.data_preprocessors.image_keeping.ImageKeepingDetDataPreprocessor`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from torch import Tensor

from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import empty_instances
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import ConfigType, InstanceList, OptConfigType

from tspsis.core.validate import check_choice
from tspsis.plugin.roi_heads.partial_roi_head import PartialRoIHead, PositiveRoIs, mask_targets, seen_mask_loss
from tspsis.plugin.task_modules.pseudo_labeler import (STUDENT_LOSSES, build_pseudo_labeler, teacher_student_init,
                                                       weighted_roi_mean)
from tspsis.plugin.utils.partial_supervision import rgb_crops, rgb_images, seen_union_masks

__all__ = [
    'TEACHER_FG_RATIO',
    'Explanation',
    'PseudoMasks',
    'TeacherStudentRoIHead',
    'class_channel_targets',
    'teacher_foreground_ratio',
]

# The key of the teacher's foreground ratio in the losses dict: no 'loss' in it, so mmengine's parse_losses logs it
# (``train/teacher_fg_ratio`` in the message hub, the log and vis_data/scalars.json) and leaves it out of Eq. 7's sum.
TEACHER_FG_RATIO = 'teacher_fg_ratio'


def class_channel_targets(label_targets: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Eq. 3: G in {0,1}^(C x h x w) with G_c = 0 for every c != l and G_l the object's target.

    label_targets: (P, h, w) target of each RoI's own class channel l; labels: (P,).
    Returns (P, C, h, w).
    """
    one_hot = F.one_hot(labels.long(), num_classes).to(label_targets.dtype)
    return one_hot[:, :, None, None] * label_targets[:, None]


def teacher_foreground_ratio(teacher_logits: Tensor, has_mask: Tensor, thr: float = 0.5) -> Optional[Tensor]:
    """How much the teacher Ft finds inside unseen-category boxes, relative to seen ones: the mean over unseen RoIs
    of the foreground fraction of Mt (pixels with Mt >= ``thr``, r of Eq. 4), divided by that mean over seen RoIs.

    teacher_logits: (P, 1, ht, wt) Mt's logits of the positive RoIs; has_mask: (P,) bool, True for a seen-category
    object (the training file's own flag; no mask of an unseen object is read, there is none). Returns a detached
    0-d float tensor, or None when the batch has no unseen or no seen RoI, or the teacher finds nothing in the seen
    ones. Near 1: the teacher segments unseen objects as it does seen ones; near 0: its pseudo masks r(Mt) for
    unseen categories are nearly empty (the seen set does not cover their shapes or appearances). Computed on
    detached values, it consumes no random numbers and changes no loss.
    """
    has_mask = has_mask.bool()
    if bool(has_mask.all()) or not bool(has_mask.any()):
        return None
    with torch.no_grad():
        foreground = (teacher_logits.detach().float().sigmoid() >= thr).flatten(1).float().mean(1)  # (P,)
        seen = foreground[has_mask].mean()
        if float(seen) == 0.0:
            return None
        return foreground[~has_mask].mean() / seen


@dataclass(frozen=True)
class PseudoMasks:
    """The student's targets G_l of the unseen positive RoIs of the last training batch (U of them), kept for
    :class:`~tspsis.plugin.hooks.pseudo_mask_monitor.PseudoMaskMonitorHook`: rois (U, 4) xyxy, img_idx (U,) image in the batch,
    labels (U,), masks (U, h, w) bool (r(Mt) after cleaning; soft targets thresholded at 0.5)."""

    rois: Tensor
    img_idx: Tensor
    labels: Tensor
    masks: Tensor


@dataclass(frozen=True)
class Explanation:
    """What a teacher-student head computes for P objects, each on the student's h x w RoI grid (its box).

    teacher: (P, h, w) Mt, the teacher's probabilities, on the student's grid as the pseudo-labeller reads them;
    pseudo_masks: (P, h, w) r(Mt) (Eq. 4/6) of the head's own PseudoLabeler, before the cleaning;
    cleaned: (P, h, w) the student's target G_l for the object as an unseen one (r(Mt), cleaned, Sec. 5.1):
    exactly what training feeds Eq. 6 after the warm-up; student: (P, h, w) Ms, the student's probabilities
    of channel l; crops: (P, 3, h, w) RGB [0, 255] of the boxes on the same grid, or None without images;
    rois: (P, 4) xyxy the area each grid covers (the box, clipped to the image as training clips it).
    Masks are float (soft for post_process type 'none', else 0/1).
    """

    teacher: Tensor
    pseudo_masks: Tensor
    cleaned: Tensor
    student: Tensor
    crops: Tensor | None
    rois: Tensor


@MODELS.register_module()
class TeacherStudentRoIHead(PartialRoIHead):
    """Teacher-student mask heads (Sec. 4, Fig. 4) on a Mask R-CNN RoI head.

    ``mask_head`` is the class-specific student Fs (C channels); ``teacher_head`` the class-agnostic
    teacher Ft (1 channel). Both run on the same mask RoI features x (Eq. 2).

    Losses (Eq. 7, equal weights): the box head's ``loss_cls``/``loss_bbox``,
    ``loss_mask_teacher`` (Eq. 5, seen objects only) and ``loss_mask_student`` (Eq. 6); beside them, logged and not
    summed, ``teacher_fg_ratio`` (:func:`teacher_foreground_ratio`, when the batch has seen and unseen objects),
    which :class:`~tspsis.plugin.hooks.teacher_coverage.TeacherCoverageHook` watches. The student
    loss is the per-pixel binary cross-entropy ("cross-entropy loss", Sec. 4.3) scaled by
    ``mask_head.loss_mask.loss_weight``, averaged over the RoIs that take part.

    Args:
        teacher_head: Ft's config, merged over a copy of ``mask_head``'s with
            ``class_agnostic=True``; so ``dict()`` is the student's architecture with one channel and
            ``dict(num_convs=12)`` the "deeper" teacher of Table 3.
        pseudo_labeler: the student's targets for unseen objects, r(Mt) (Eq. 4/6), cleaning, warm-up
            and weighting: ``dict(type='PseudoLabeler', post_process=dict(type='threshold', thr=0.5),
            clean=True, warmup_iters=0, weighting='none')``, see
            :class:`~tspsis.plugin.task_modules.pseudo_labeler.PseudoLabeler`. ``post_process.type='crf'`` needs
            :class:`ImageKeepingDetDataPreprocessor` as the detector's data preprocessor.
        student_loss: ``'label_channel'`` supervises only channel l of Fs (Mask R-CNN's
            convention); ``'all_channels'`` supervises all C channels with G of Eq. 3 (zeros but l),
            per RoI the sum over channels of the per-pixel mean, so that channel l weighs as much as
            with ``'label_channel'`` (Eq. 7's equal weights).
        test_mask_head: ``'student'`` (Sec. 4.3: the teacher is dropped at inference) or
            ``'teacher'`` (predict with Ft of the same checkpoint, for analysis).
        fully_supervised, mask_roi_source: as :class:`PartialRoIHead`.
    """

    def __init__(self,
                 *args,
                 mask_head: ConfigType,
                 teacher_head: OptConfigType = None,
                 pseudo_labeler: OptConfigType = None,
                 student_loss: str = 'label_channel',
                 test_mask_head: str = 'student',
                 **kwargs) -> None:
        owner = type(self).__name__
        labeler = teacher_student_init(owner, kwargs, pseudo_labeler, test_mask_head)
        check_choice('student_loss', student_loss, STUDENT_LOSSES, owner=owner)
        super().__init__(*args, mask_head=mask_head, **kwargs)
        self.pseudo_labeler = labeler
        self.student_loss = student_loss
        self.test_mask_head = test_mask_head

        teacher_cfg = ConfigDict(mask_head)
        teacher_cfg.merge({'class_agnostic': True, **(teacher_head or {})})
        self.teacher_head = MODELS.build(teacher_cfg)
        self._teacher_has_batch_statistics = any(
            isinstance(module, torch.nn.modules.batchnorm._BatchNorm) for module in self.teacher_head.modules())
        if not self.teacher_head.class_agnostic:
            raise ValueError(f'{owner}: `teacher_head.class_agnostic` must be True '
                             '(Ft has one channel, Eq. 2)')
        if self.mask_head.class_agnostic:
            raise ValueError(f'{owner}: `mask_head.class_agnostic` must be False '
                             '(the student Fs has C channels, Eq. 2)')
        student_loss_cfg = self.mask_head.loss_mask
        if not getattr(student_loss_cfg, 'use_mask', False):
            raise ValueError(f"{owner}: `mask_head.loss_mask` must be "
                             "dict(type='CrossEntropyLoss', use_mask=True): the student loss is a "
                             'per-pixel binary cross-entropy (Sec. 4.3)')

    # ----------------------------------------------------------------------------------- training
    def mask_loss(self, x: Tuple[Tensor], sampling_results: List[SamplingResult],
                  bbox_feats: Tensor, batch_gt_instances: InstanceList) -> dict:
        """Teacher (Eq. 5) and student (Eq. 6) mask losses on the positive RoIs."""
        mask_feats = self._positive_mask_feats(x, sampling_results, bbox_feats)
        student_logits = self.mask_head(mask_feats)  # Ms: (P, C, h, w)
        positives = PositiveRoIs.gather(sampling_results, batch_gt_instances)
        teacher_logits = self._teacher_logits(mask_feats, positives.has_mask)  # Mt: (P, 1, ht, wt)

        teacher_targets = mask_targets(sampling_results, batch_gt_instances,
                                       teacher_logits.shape[-2:], self.train_cfg)
        loss_teacher = seen_mask_loss(self.teacher_head, teacher_logits, teacher_targets,
                                      positives.labels, positives.has_mask)

        student_gt = mask_targets(sampling_results, batch_gt_instances,
                                  student_logits.shape[-2:], self.train_cfg)
        size = tuple(student_gt.shape[-2:])

        def crops(rows: Tensor) -> Tensor:  # (U, 3, h, w) image crops of the RoIs, for r = CRF
            images = rgb_images(batch_gt_instances, 'ImageKeepingDetDataPreprocessor')
            return rgb_crops(images, positives.rois[rows], positives.img_idx[rows], size)

        label_targets, weights = self.pseudo_labeler(
            gt_targets=student_gt, teacher_logits=teacher_logits, student_logits=student_logits,
            labels=positives.labels, has_mask=positives.has_mask, rois=positives.rois,
            gt_boxes=positives.gt_boxes, seen_union=lambda: seen_union_masks(batch_gt_instances),
            img_idx=positives.img_idx, images=crops)
        loss_student = self.student_mask_loss(student_logits, label_targets, positives.labels,
                                              weights)
        unseen = ~positives.has_mask  # what PseudoMaskMonitorHook scores (it never feeds back into training)
        self.last_pseudo_masks = PseudoMasks(positives.rois[unseen].detach(), positives.img_idx[unseen],
                                             positives.labels[unseen], label_targets[unseen].detach() >= 0.5)
        losses = dict(loss_mask_teacher=loss_teacher, loss_mask_student=loss_student)
        ratio = teacher_foreground_ratio(teacher_logits, positives.has_mask)  # detached: logged, not in Eq. 7
        if ratio is not None:
            losses[TEACHER_FG_RATIO] = ratio
        return dict(mask_preds=student_logits, mask_feats=mask_feats, mask_targets=label_targets, loss_mask=losses)

    def _teacher_logits(self, mask_feats: Tensor, has_mask: Tensor) -> Tensor:
        """Mt of every positive RoI, (P, 1, ht, wt).

        A teacher without batch statistics runs with gradient on the seen objects, the only ones Eq. 5
        trains on, and without on the unseen ones, whose Mt only makes pseudo masks: the values of one
        pass over all RoIs, minus the backward over the unseen rows (~75% of the positives voc -> non-voc).
        A teacher with BatchNorm (OPMask's head) keeps the one pass, so its statistics are unchanged.
        """
        if bool(has_mask.all()) or self._teacher_has_batch_statistics:
            return self.teacher_head(mask_feats)
        seen_logits = self.teacher_head(mask_feats[has_mask])
        with torch.no_grad():
            unseen_logits = self.teacher_head(mask_feats[~has_mask])
        order = torch.cat([has_mask.nonzero()[:, 0], (~has_mask).nonzero()[:, 0]])
        return torch.cat([seen_logits, unseen_logits])[torch.argsort(order)]

    def student_mask_loss(self, student_logits: Tensor, label_targets: Tensor, labels: Tensor,
                          weights: Tensor) -> Tensor:
        """Eq. 6: weighted mean over RoIs of the per-pixel BCE of Fs against its targets.

        student_logits: (P, C, h, w); label_targets: (P, h, w) G_l; labels: (P,); weights: (P,).
        Per RoI, ``'label_channel'``: the mean over the h x w pixels of channel l; ``'all_channels'``:
        the sum over the C channels of that mean, against G of Eq. 3 (channel l's term is the same, every
        other channel adds its BCE against 0). RoIs of weight 0 (warm-up) neither count nor contribute
        (:func:`~tspsis.plugin.task_modules.pseudo_labeler.weighted_roi_mean`).
        """
        if self.student_loss == 'label_channel':
            logits = student_logits[torch.arange(len(labels), device=labels.device), labels]
            per_roi = F.binary_cross_entropy_with_logits(
                logits.float(), label_targets.float(), reduction='none').flatten(1).mean(1)
        else:
            targets = class_channel_targets(label_targets, labels, student_logits.shape[1])
            per_roi = F.binary_cross_entropy_with_logits(
                student_logits.float(), targets.float(), reduction='none').flatten(2).mean(2).sum(1)
        return self.mask_head.loss_mask.loss_weight * weighted_roi_mean(per_roi, weights)

    # ---------------------------------------------------------------------------------- analysis
    @torch.no_grad()
    def explain(self, x: Tuple[Tensor], boxes: Tensor, img_idx: Tensor, labels: Tensor, seen_union: Tensor,
                images: Optional[Tensor] = None, pseudo_labeler: OptConfigType = None) -> Explanation:
        """Mt, r(Mt), the cleaned pseudo mask and Ms of objects, computed as training computes them (Fig. 4).

        The objects are treated as unseen and their boxes as the mask RoIs (the box-conditioned track's
        ``mask_roi_source='gt_boxes'``), so ``cleaned`` equals the student's training target of an unseen object
        with that box, in the same frame, after the warm-up.

        x: the detector's features (``extract_feat``); boxes: (P, 4) xyxy ground-truth boxes in the network
        input's pixels; img_idx: (P,) image of each box in the batch; labels: (P,) class l of each object;
        seen_union: (B, H, W) bool, per image the union of its seen-category masks in the same frame
        (:func:`~tspsis.plugin.utils.partial_supervision.seen_union_masks`); images: (B, 3, H, W) RGB [0, 255] in the same
        frame (needed for r = CRF; gives ``crops``); pseudo_labeler: another PseudoLabeler config to compare
        r(.)s (default: the head's own, the one training used).
        """
        labeler = self.pseudo_labeler if pseudo_labeler is None else build_pseudo_labeler(pseudo_labeler)
        mask_feats = self.mask_roi_extractor(x[:self.mask_roi_extractor.num_inputs],
                                             torch.cat([img_idx.to(boxes)[:, None], boxes], dim=1))
        if self.with_shared_head:
            mask_feats = self.shared_head(mask_feats)
        student_logits = self.mask_head(mask_feats)  # (P, C, h, w)
        teacher_logits = self.teacher_head(mask_feats)  # (P, 1, ht, wt)
        size = tuple(student_logits.shape[-2:])
        height, width = seen_union.shape[-2:]
        rois = torch.minimum(boxes.clamp(min=0), boxes.new_tensor([width, height, width, height]))  # as training
        crops = None if images is None else rgb_crops(images, rois, img_idx, size)
        unseen = torch.zeros_like(labels, dtype=torch.bool)  # every object as an unseen one
        inputs = dict(gt_targets=student_logits.new_zeros((len(boxes),) + size), teacher_logits=teacher_logits,
                      student_logits=student_logits, labels=labels, has_mask=unseen, rois=rois, gt_boxes=boxes,
                      seen_union=seen_union, img_idx=img_idx, images=crops, iteration=labeler.warmup_iters)
        uncleaned = copy.copy(labeler)
        uncleaned.clean = False
        rows = torch.arange(len(labels), device=labels.device)
        return Explanation(teacher=labeler.teacher_probabilities(teacher_logits, size),
                           pseudo_masks=uncleaned(**inputs).targets, cleaned=labeler(**inputs).targets,
                           student=student_logits[rows, labels].float().sigmoid(), crops=crops,
                           rois=rois)

    # ---------------------------------------------------------------------------------- inference
    def predict_mask(self, x: Tuple[Tensor], batch_img_metas: List[dict],
                     results_list: InstanceList, rescale: bool = False) -> InstanceList:
        """Masks from the student (Sec. 4.3) or, with ``test_mask_head='teacher'``, the teacher."""
        if self.test_mask_head == 'student':
            return super().predict_mask(x, batch_img_metas, results_list, rescale)
        mask_rois = bbox2roi([res.bboxes for res in results_list])
        if mask_rois.shape[0] == 0:
            return empty_instances(batch_img_metas, mask_rois.device, task_type='mask',
                                   instance_results=results_list,
                                   mask_thr_binary=self.test_cfg.mask_thr_binary)
        # the extractor alone: _mask_forward would also run (and waste) the student
        mask_feats = self.mask_roi_extractor(x[:self.mask_roi_extractor.num_inputs], mask_rois)
        if self.with_shared_head:
            mask_feats = self.shared_head(mask_feats)
        mask_preds = self.teacher_head(mask_feats).split([len(res) for res in results_list], 0)
        return self.teacher_head.predict_by_feat(
            mask_preds=mask_preds, results_list=results_list, batch_img_metas=batch_img_metas,
            rcnn_test_cfg=self.test_cfg, rescale=rescale)
