"""The partially supervised Mask R-CNN baseline RoI head and the RoI bookkeeping every RoI head here shares.

Seen categories have ground-truth masks; unseen categories have boxes only. :class:`PartialRoIHead` reads
``gt_instances.has_mask`` (BoolTensor (N,), packed by ``tspsis.plugin.transforms.loading.PackPartialDetInputs``); a
training batch without it raises, unless the head is configured ``fully_supervised=True``. Its (class-agnostic) mask
head is trained on the positive RoIs whose ground truth has a mask only (Eq. 5 with one channel).
``mask_roi_source`` chooses the mask heads' RoIs: mmdet's sampled positives, or the ground-truth boxes (the
box-conditioned track). Every partially supervised RoI head subclasses it: the teacher-student head
(:mod:`tspsis.plugin.roi_heads.teacher_student`), OPMask, CPMask and MaskX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi, get_box_tensor
from mmdet.structures.mask import mask_target
from mmdet.utils import InstanceList, OptConfigType

from tspsis.core.validate import check_choice
from tspsis.plugin.roi_heads.box_conditioned import predict_given_boxes, uses_given_boxes
from tspsis.plugin.utils.partial_supervision import has_mask_of, prepare_partial_instances

__all__ = [
    'MASK_ROI_SOURCES',
    'PartialRoIHead',
    'PositiveRoIs',
    'gt_box_sampling_result',
    'mask_targets',
    'positive_rows',
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
        check_choice('mask_roi_source', mask_roi_source, MASK_ROI_SOURCES, owner=type(self).__name__)
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
