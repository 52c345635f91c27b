"""RoI heads for partially supervised instance segmentation (paper Sec. 4).

Seen categories have ground-truth masks; unseen categories have boxes only. Every head here reads
``gt_instances.has_mask`` (BoolTensor (N,), packed by ``tspsis.plugin.transforms.loading.PackPartialDetInputs``); a
training batch without it raises, unless the head is configured ``fully_supervised=True``.

* :class:`PartialRoIHead`: the partially supervised Mask R-CNN baseline. Its (class-agnostic) mask
  head is trained on the positive RoIs whose ground truth has a mask only. ``mask_roi_source`` chooses the
  mask heads' RoIs: mmdet's sampled positives, or the ground-truth boxes (the box-conditioned track).
* :class:`TeacherStudentRoIHead`: the paper's method. A class-agnostic teacher mask head Ft and a
  class-specific student mask head Fs share the mask RoI features (Eq. 2). Ft learns from seen masks
  (Eq. 5); Fs learns from seen masks and, for unseen objects, from the teacher's post-processed and
  cleaned prediction r(Mt) (Eq. 3, 4, 6), made by the
  :class:`~tspsis.plugin.task_modules.pseudo_labeler.PseudoLabeler`. Loss: Eq. 7. At test time only Fs predicts (Sec. 4.3).

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
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import empty_instances, unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi, get_box_tensor
from mmdet.structures.mask import mask_target
from mmdet.utils import ConfigType, InstanceList, OptConfigType

from tspsis.plugin.data_preprocessors.image_keeping import rgb_inputs
from tspsis.plugin.roi_heads.box_conditioned import predict_given_boxes, uses_given_boxes
from tspsis.plugin.task_modules.pseudo_labeler import (STUDENT_LOSSES, build_pseudo_labeler, check_choice,
                                                       teacher_student_init, weighted_roi_mean)
from tspsis.plugin.utils.partial_supervision import (has_mask_of, prepare_partial_instances, rgb_crops, rgb_images,
                                                     seen_union_masks)

__all__ = [
    'Explanation',
    'MASK_ROI_SOURCES',
    'PartialRoIHead',
    'PositiveRoIs',
    'TeacherStudentRoIHead',
    'class_channel_targets',
    'gt_box_sampling_result',
    'mask_targets',
    'positive_rows',
    'rgb_inputs',
    'seen_mask_loss',
]

MASK_ROI_SOURCES = ('sampled', 'gt_boxes')  # PartialRoIHead.mask_roi_source


@dataclass
class PositiveRoIs:
    """The positive RoIs of a batch, concatenated over images (P in total).

    rois: (P, 4) xyxy, clipped to the image as mmdet's mask targets are; img_idx: (P,) image of each
    RoI in the batch; labels: (P,) class l of the assigned object; has_mask: (P,) bool, the assigned
    object is of a seen category; gt_boxes: (P, 4) xyxy box of the assigned object.
    """

    rois: Tensor
    img_idx: Tensor
    labels: Tensor
    has_mask: Tensor
    gt_boxes: Tensor

    @classmethod
    def gather(cls, sampling_results: List[SamplingResult],
               batch_gt_instances: InstanceList) -> 'PositiveRoIs':
        rois, img_idx, has_mask = [], [], []
        for i, (res, gt) in enumerate(zip(sampling_results, batch_gt_instances)):
            height, width = gt.masks.height, gt.masks.width
            priors = get_box_tensor(res.pos_priors)
            clip = priors.new_tensor([width, height, width, height])
            rois.append(torch.minimum(priors.clamp(min=0), clip))
            img_idx.append(torch.full_like(res.pos_assigned_gt_inds, i))
            has_mask.append(has_mask_of(gt, 'PositiveRoIs')[res.pos_assigned_gt_inds])
        return cls(
            rois=torch.cat(rois),
            img_idx=torch.cat(img_idx),
            labels=torch.cat([res.pos_gt_labels for res in sampling_results]),
            has_mask=torch.cat(has_mask),
            gt_boxes=torch.cat([get_box_tensor(res.pos_gt_bboxes) for res in sampling_results]))


def mask_targets(sampling_results: List[SamplingResult], batch_gt_instances: InstanceList,
                 size: Tuple[int, int], train_cfg: OptConfigType) -> Tensor:
    """(P, h, w) ground-truth mask of each positive RoI's object on an h x w RoI grid.

    mmdet's ``mask_target`` with the grid size taken from the head's output, so a 56x56 teacher and
    a 28x28 student each get targets at their own resolution. Box-only objects give all-zero rows.
    """
    soft = bool(train_cfg.get('soft_mask_target', False)) if train_cfg else False
    cfg = ConfigDict(mask_size=tuple(size), soft_mask_target=soft)
    return mask_target([res.pos_priors for res in sampling_results],
                       [res.pos_assigned_gt_inds for res in sampling_results],
                       [gt.masks for gt in batch_gt_instances], cfg)


def seen_mask_loss(mask_head: torch.nn.Module, mask_preds: Tensor, targets: Tensor,
                   labels: Tensor, has_mask: Tensor) -> Tensor:
    """Mask loss on the RoIs whose object has a ground-truth mask only (Eq. 5).

    mask_preds: (P, K, h, w) logits (K = 1 class-agnostic or C); targets: (P, h, w); labels: (P,);
    has_mask: (P,) bool. Rows of box-only objects never enter the loss, so their (absent) masks
    cannot leak into training. Without any such row the loss is 0 * sum(preds): zero, yet every
    parameter stays in the graph (distributed training needs a gradient for each).
    """
    if not bool(has_mask.any()):
        return mask_preds.sum() * 0
    labels = labels[has_mask]
    if mask_head.class_agnostic:
        labels = torch.zeros_like(labels)
    return mask_head.loss_mask(mask_preds[has_mask], targets[has_mask], labels)


def class_channel_targets(label_targets: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Eq. 3: G in {0,1}^(C x h x w) with G_c = 0 for every c != l and G_l the object's target.

    label_targets: (P, h, w) target of each RoI's own class channel l; labels: (P,).
    Returns (P, C, h, w).
    """
    one_hot = F.one_hot(labels.long(), num_classes).to(label_targets.dtype)
    return one_hot[:, :, None, None] * label_targets[:, None]


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
class PartialRoIHead(StandardRoIHead):
    """Partially supervised Mask R-CNN baseline (the class-agnostic "Mask R-CNN" rows of Table 1).

    Identical to ``StandardRoIHead`` except that the mask loss (key ``loss_mask``) only uses the
    positive RoIs whose assigned ground truth ``has_mask``; meant for
    ``FCNMaskHead(class_agnostic=True)``, whose single channel can then segment unseen categories.
    The base of every partially supervised RoI head here (teacher-student, OPMask, MaskX, CPMask).

    Args:
        fully_supervised: False (default): every training batch must carry ``gt_instances.has_mask``
            (``PackPartialDetInputs``); a batch without it raises instead of training on the loader's
            empty placeholder masks. True: instances without the field count as mask-annotated.
        mask_roi_source: the RoIs the mask heads (teacher and student included) train on.
            ``'sampled'``: mmdet's sampled positive proposals; ``'gt_boxes'``: each image's ground-truth
            boxes ("Deep-MAC", the box-conditioned track: image + boxes in, per-box masks out). The box
            head trains on the sampled proposals either way.
    """

    def __init__(self, *args, fully_supervised: bool = False, mask_roi_source: str = 'sampled',
                 **kwargs) -> None:
        check_choice(type(self).__name__, 'mask_roi_source', mask_roi_source, MASK_ROI_SOURCES)
        super().__init__(*args, **kwargs)
        self.fully_supervised = bool(fully_supervised)
        self.mask_roi_source = mask_roi_source

    def loss(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
             batch_data_samples: SampleList) -> dict:
        """``StandardRoIHead.loss`` with the ``has_mask`` check and the mask RoIs of ``mask_roi_source``.

        Proposals are assigned and sampled as in mmdet, the box head trains on the samples, and every
        mask loss (``mask_loss`` of the subclass) gets the sampling results of :meth:`mask_rois`.
        """
        assert len(rpn_results_list) == len(batch_data_samples)
        prepare_partial_instances(batch_data_samples, fully_supervised=self.fully_supervised,
                                  owner=type(self).__name__)
        batch_gt_instances, batch_gt_instances_ignore, _ = unpack_gt_instances(batch_data_samples)
        sampling_results = []
        for i, rpn_results in enumerate(rpn_results_list):
            rpn_results.priors = rpn_results.pop('bboxes')
            assign_result = self.bbox_assigner.assign(rpn_results, batch_gt_instances[i],
                                                      batch_gt_instances_ignore[i])
            sampling_results.append(self.bbox_sampler.sample(
                assign_result, rpn_results, batch_gt_instances[i],
                feats=[lvl_feat[i][None] for lvl_feat in x]))

        losses = dict()
        bbox_results = self.bbox_loss(x, sampling_results)
        losses.update(bbox_results['loss_bbox'])
        if self.with_mask:
            mask_results, mask_bbox_feats = self.mask_rois(x, sampling_results, bbox_results['bbox_feats'],
                                                           batch_gt_instances)
            losses.update(self.mask_loss(x, mask_results, mask_bbox_feats, batch_gt_instances)['loss_mask'])
        return losses

    def mask_rois(self, x: Tuple[Tensor], sampling_results: List[SamplingResult], bbox_feats: Tensor,
                  batch_gt_instances: InstanceList) -> Tuple[List[SamplingResult], Tensor]:
        """The mask heads' RoIs as sampling results (their positives), and the box features of those results.

        ``'sampled'``: mmdet's. ``'gt_boxes'``: per image one positive per ground-truth object, its own box
        (:func:`gt_box_sampling_result`), and the box branch's features (``_bbox_forward``) of those boxes,
        which a shared RoI extractor or OPMask's CAM prior reads.
        """
        if self.mask_roi_source == 'sampled':
            return sampling_results, bbox_feats
        results = [gt_box_sampling_result(gt) for gt in batch_gt_instances]
        rois = bbox2roi([res.pos_priors for res in results])
        return results, self._bbox_forward(x, rois)['bbox_feats']

    def mask_loss(self, x: Tuple[Tensor], sampling_results: List[SamplingResult],
                  bbox_feats: Tensor, batch_gt_instances: InstanceList) -> dict:
        mask_feats = self._positive_mask_feats(x, sampling_results, bbox_feats)
        mask_preds = self._mask_logits(mask_feats)
        targets = mask_targets(sampling_results, batch_gt_instances, mask_preds.shape[-2:],
                               self.train_cfg)
        positives = PositiveRoIs.gather(sampling_results, batch_gt_instances)
        loss = seen_mask_loss(self.mask_head, mask_preds, targets, positives.labels,
                              positives.has_mask)
        return dict(mask_preds=mask_preds, mask_feats=mask_feats, mask_targets=targets,
                    loss_mask=dict(loss_mask=loss))

    def predict(self, x: Tuple[Tensor], rpn_results_list: InstanceList, batch_data_samples,
                rescale: bool = False) -> InstanceList:
        """mmdet's prediction, or, with ``test_cfg.given_boxes`` (box-conditioned track), masks of the given
        boxes scored by their mean foreground probability (:mod:`tspsis.plugin.roi_heads.box_conditioned`)."""
        if uses_given_boxes(self.test_cfg):
            return predict_given_boxes(self, x, rpn_results_list, batch_data_samples, rescale=rescale)
        return super().predict(x, rpn_results_list, batch_data_samples, rescale=rescale)

    def _mask_logits(self, mask_feats: Tensor) -> Tensor:
        """(P, C or 1, 28, 28) mask logits of the positive RoIs; heads with generated weights override it."""
        return self.mask_head(mask_feats)

    def _positive_mask_feats(self, x: Tuple[Tensor], sampling_results: List[SamplingResult],
                             bbox_feats: Tensor) -> Tensor:
        """(P, D, 14, 14) mask RoI features x of the positive RoIs (as ``StandardRoIHead``)."""
        if not self.share_roi_extractor:
            # the extractor alone: StandardRoIHead._mask_forward would also run (and waste) the mask head
            rois = bbox2roi([res.pos_priors for res in sampling_results])
            mask_feats = self.mask_roi_extractor(x[:self.mask_roi_extractor.num_inputs], rois)
            return self.shared_head(mask_feats) if self.with_shared_head else mask_feats
        return positive_rows(sampling_results, bbox_feats)


def positive_rows(sampling_results: List[SamplingResult], feats: Tensor) -> Tensor:
    """The rows of the positive RoIs in `feats`, per-RoI values of all sampled RoIs (per image its positives
    then its negatives, mmdet's order): (P, ...) of (sum_i pos_i + neg_i, ...)."""
    positive = torch.cat([
        torch.cat([feats.new_ones(len(res.pos_priors), dtype=torch.bool),
                   feats.new_zeros(len(res.neg_priors), dtype=torch.bool)])
        for res in sampling_results])
    return feats[positive]


def gt_box_sampling_result(gt_instances: InstanceData) -> SamplingResult:
    """A SamplingResult whose positives are the image's ground-truth objects, each with its own box as RoI.

    pos_priors: (N, 4) the ground-truth boxes; pos_assigned_gt_inds: 0..N-1; pos_gt_labels: the labels;
    no negatives. What ``mask_roi_source='gt_boxes'`` trains the mask heads on.
    """
    boxes = gt_instances.bboxes
    priors = get_box_tensor(boxes)
    num = len(priors)
    inds = torch.arange(num, device=priors.device)
    assign = AssignResult(num_gts=num, gt_inds=inds + 1, max_overlaps=priors.new_ones(num),
                          labels=gt_instances.labels)
    return SamplingResult(pos_inds=inds, neg_inds=inds[:0], priors=priors, gt_bboxes=boxes,
                          assign_result=assign, gt_flags=priors.new_ones(num, dtype=torch.uint8))


@MODELS.register_module()
class TeacherStudentRoIHead(PartialRoIHead):
    """Teacher-student mask heads (Sec. 4, Fig. 4) on a Mask R-CNN RoI head.

    ``mask_head`` is the class-specific student Fs (C channels); ``teacher_head`` the class-agnostic
    teacher Ft (1 channel). Both run on the same mask RoI features x (Eq. 2).

    Losses (Eq. 7, equal weights): the box head's ``loss_cls``/``loss_bbox``,
    ``loss_mask_teacher`` (Eq. 5, seen objects only) and ``loss_mask_student`` (Eq. 6). The student
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
        check_choice(owner, 'student_loss', student_loss, STUDENT_LOSSES)
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
        return dict(mask_preds=student_logits, mask_feats=mask_feats, mask_targets=label_targets,
                    loss_mask=dict(loss_mask_teacher=loss_teacher,
                                   loss_mask_student=loss_student))

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


