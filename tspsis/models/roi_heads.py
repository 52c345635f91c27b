"""RoI heads for partially supervised instance segmentation (paper Sec. 4).

Seen categories have ground-truth masks; unseen categories have boxes only. Every head here reads
``gt_instances.has_mask`` (BoolTensor (N,), packed by ``tspsis.models.loading``); without that field
every instance counts as mask-annotated (fully supervised / oracle data).

* :class:`PartialRoIHead`: the partially supervised Mask R-CNN baseline. Its (class-agnostic) mask
  head is trained on the positive RoIs whose ground truth has a mask only.
* :class:`TeacherStudentRoIHead`: the paper's method. A class-agnostic teacher mask head Ft and a
  class-specific student mask head Fs share the mask RoI features (Eq. 2). Ft learns from seen masks
  (Eq. 5); Fs learns from seen masks and, for unseen objects, from the teacher's post-processed and
  cleaned prediction r(Mt) (Eq. 3, 4, 6). Loss: Eq. 7. At test time only Fs predicts (Sec. 4.3).
* :class:`ImageKeepingDetDataPreprocessor`: keeps the RGB training images next to the ground truth,
  for the dense-CRF post-processing r(Mt) = CRF(Mt) >= 0.5, which needs pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData
from torch import Tensor
from torchvision.ops import roi_align

from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import empty_instances
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi, get_box_tensor
from mmdet.structures.mask import mask_target
from mmdet.utils import ConfigType, InstanceList, OptConfigType

from tspsis import pseudo

from .box_conditioned import predict_given_boxes, uses_given_boxes

__all__ = [
    'ImageKeepingDetDataPreprocessor',
    'PartialRoIHead',
    'PositiveRoIs',
    'TeacherStudentRoIHead',
    'class_channel_targets',
    'mask_targets',
    'seen_mask_loss',
]

RGB_IMAGE_KEY = 'rgb_image'  # gt_instances.metainfo key set by ImageKeepingDetDataPreprocessor
STUDENT_LOSSES = ('label_channel', 'all_channels')
PSEUDO_WEIGHTINGS = ('none', 'confidence')
TEST_MASK_HEADS = ('student', 'teacher')
NO_POST_PROCESSING = 'none'  # pseudo_mask type: soft targets Mt, no r (Table 4)


@MODELS.register_module()
class ImageKeepingDetDataPreprocessor(DetDataPreprocessor):
    """``DetDataPreprocessor`` that, in training, also keeps each image as RGB in [0, 255].

    The image (3, H, W) float — the padded batch input, de-normalised with this preprocessor's
    mean/std and put in RGB order — goes to ``data_sample.gt_instances.metainfo['rgb_image']``, where
    a RoI head (which only receives the ground-truth instances) can RoI-align it. Images are assumed
    loaded BGR, as mmcv does, so without ``bgr_to_rgb`` the channels are flipped here.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        if training and data['data_samples'] is not None:
            inputs = data['inputs'].float()
            if self._enable_normalize:
                inputs = inputs * self.std + self.mean
            if not self._channel_conversion:
                inputs = inputs.flip(1)
            for image, data_sample in zip(inputs, data['data_samples']):
                data_sample.gt_instances.set_metainfo({RGB_IMAGE_KEY: image})
        return data


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
            height, width = _mask_shape(gt)
            priors = get_box_tensor(res.pos_priors)
            clip = priors.new_tensor([width, height, width, height])
            rois.append(torch.minimum(priors.clamp(min=0), clip))
            img_idx.append(torch.full_like(res.pos_assigned_gt_inds, i))
            has_mask.append(_has_mask(gt)[res.pos_assigned_gt_inds])
        return cls(
            rois=torch.cat(rois),
            img_idx=torch.cat(img_idx),
            labels=torch.cat([res.pos_gt_labels for res in sampling_results]),
            has_mask=torch.cat(has_mask),
            gt_boxes=torch.cat([get_box_tensor(res.pos_gt_bboxes) for res in sampling_results]))


def _has_mask(gt_instances: InstanceData) -> Tensor:
    """(N,) bool: which ground-truth instances carry a mask (all of them without the field)."""
    if 'has_mask' in gt_instances:
        return gt_instances.has_mask.bool()
    return torch.ones(len(gt_instances), dtype=torch.bool, device=gt_instances.labels.device)


def _mask_shape(gt_instances: InstanceData) -> Tuple[int, int]:
    return gt_instances.masks.height, gt_instances.masks.width


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


@MODELS.register_module()
class PartialRoIHead(StandardRoIHead):
    """Partially supervised Mask R-CNN baseline (the class-agnostic "Mask R-CNN" rows of Table 1).

    Identical to ``StandardRoIHead`` except that the mask loss (key ``loss_mask``) only uses the
    positive RoIs whose assigned ground truth ``has_mask``; meant for
    ``FCNMaskHead(class_agnostic=True)``, whose single channel can then segment unseen categories.
    """

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
        boxes scored by their mean foreground probability (:mod:`tspsis.models.box_conditioned`)."""
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
        pos_inds = torch.cat([
            torch.cat([bbox_feats.new_ones(len(res.pos_priors), dtype=torch.bool),
                       bbox_feats.new_zeros(len(res.neg_priors), dtype=torch.bool)])
            for res in sampling_results])
        return bbox_feats[pos_inds]


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
        pseudo_mask: r in Eq. 4/6: ``dict(type='threshold'|'interact'|'crf', thr=0.5,
            crf_backend='torch'|'pydensecrf', crf_iterations=5, crf_params=dict(...))``, see
            :func:`tspsis.pseudo.make_pseudo_masks`. ``'crf'`` needs
            :class:`ImageKeepingDetDataPreprocessor` as the detector's data preprocessor.
            ``type='none'`` applies no r: the teacher's probabilities Mt are soft targets (the
            "post-processing off" row of Table 4; use with ``clean_pseudo=False``).
        student_loss: ``'label_channel'`` supervises only channel l of Fs (Mask R-CNN's
            convention); ``'all_channels'`` supervises all C channels with G of Eq. 3 (zeros but l).
        clean_pseudo: mark pseudo-mask pixels inside any seen-category GT mask of the image or
            outside the object's GT box as background (Sec. 5.1).
        pseudo_warmup_iters: the student ignores unseen objects for the first N training iterations
            (the iteration is mmengine's MessageHub runtime info ``'iter'``), while Ft is untrained.
        pseudo_weighting: ``'none'``, or ``'confidence'``: scale each unseen object's student loss by
            the teacher's mean confidence mean(|2 Mt - 1|) over its RoI.
        test_mask_head: ``'student'`` (Sec. 4.3: the teacher is dropped at inference) or
            ``'teacher'`` (predict with Ft of the same checkpoint, for analysis).
    """

    def __init__(self,
                 *args,
                 mask_head: ConfigType,
                 teacher_head: OptConfigType = None,
                 pseudo_mask: OptConfigType = None,
                 student_loss: str = 'label_channel',
                 clean_pseudo: bool = True,
                 pseudo_warmup_iters: int = 0,
                 pseudo_weighting: str = 'none',
                 test_mask_head: str = 'student',
                 **kwargs) -> None:
        super().__init__(*args, mask_head=mask_head, **kwargs)
        self.pseudo_mask = self._check_pseudo_mask(pseudo_mask)
        _check_choice('student_loss', student_loss, STUDENT_LOSSES)
        _check_choice('pseudo_weighting', pseudo_weighting, PSEUDO_WEIGHTINGS)
        _check_choice('test_mask_head', test_mask_head, TEST_MASK_HEADS)
        if pseudo_warmup_iters < 0:
            raise ValueError('TeacherStudentRoIHead: `pseudo_warmup_iters` must be >= 0, '
                             f'got {pseudo_warmup_iters}')
        self.student_loss = student_loss
        self.clean_pseudo = clean_pseudo
        if self.pseudo_mask['type'] == NO_POST_PROCESSING and clean_pseudo:
            raise ValueError("TeacherStudentRoIHead: pseudo_mask type 'none' is Table 4's run without "
                             'post-processing (soft targets); set clean_pseudo=False')
        self.pseudo_warmup_iters = pseudo_warmup_iters
        self.pseudo_weighting = pseudo_weighting
        self.test_mask_head = test_mask_head

        teacher_cfg = ConfigDict(mask_head)
        teacher_cfg.merge({'class_agnostic': True, **(teacher_head or {})})
        self.teacher_head = MODELS.build(teacher_cfg)
        self._teacher_has_batch_statistics = any(
            isinstance(module, torch.nn.modules.batchnorm._BatchNorm) for module in self.teacher_head.modules())
        if not self.teacher_head.class_agnostic:
            raise ValueError('TeacherStudentRoIHead: `teacher_head.class_agnostic` must be True '
                             '(Ft has one channel, Eq. 2)')
        if self.mask_head.class_agnostic:
            raise ValueError('TeacherStudentRoIHead: `mask_head.class_agnostic` must be False '
                             '(the student Fs has C channels, Eq. 2)')
        student_loss_cfg = self.mask_head.loss_mask
        if not getattr(student_loss_cfg, 'use_mask', False):
            raise ValueError("TeacherStudentRoIHead: `mask_head.loss_mask` must be "
                             "dict(type='CrossEntropyLoss', use_mask=True): the student loss is a "
                             'per-pixel binary cross-entropy (Sec. 4.3)')

    @staticmethod
    def _check_pseudo_mask(pseudo_mask: OptConfigType) -> dict:
        cfg = {'type': 'threshold', **(pseudo_mask or {})}
        _check_choice('pseudo_mask.type', cfg['type'], (NO_POST_PROCESSING, *pseudo.PSEUDO_MASK_METHODS))
        if isinstance(cfg.get('crf_params'), dict):
            cfg['crf_params'] = pseudo.CRFParams(**cfg['crf_params'])
        return cfg

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
        label_targets, weights = self.student_targets(student_gt, teacher_logits, student_logits,
                                                      positives, batch_gt_instances)
        loss_student = self.student_mask_loss(student_logits, label_targets, positives.labels,
                                              weights)
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

    @torch.no_grad()
    def student_targets(self, student_gt: Tensor, teacher_logits: Tensor, student_logits: Tensor,
                        positives: PositiveRoIs,
                        batch_gt_instances: InstanceList) -> Tuple[Tensor, Tensor]:
        """Target of each RoI's own class channel l (G_l, Eq. 4/6) and its loss weight.

        student_gt: (P, h, w) ground-truth targets on the student's grid; teacher_logits:
        (P, 1, ht, wt); student_logits: (P, C, h, w). Seen objects get their ground truth; unseen
        ones the cleaned pseudo mask r(Mt), Mt brought to the student's grid by area averaging.
        Nothing here carries gradient: the pseudo masks never train the teacher.
        Returns label_targets (P, h, w) float and weights (P,) float (1 for seen objects).
        """
        size = tuple(student_gt.shape[-2:])
        unseen = ~positives.has_mask
        label_targets = student_gt.clone()
        weights = torch.ones_like(student_gt[:, 0, 0])
        if not bool(unseen.any()):
            return label_targets, weights
        teacher_probs = teacher_logits[unseen, 0].float().sigmoid()
        if tuple(teacher_probs.shape[-2:]) != size:
            teacher_probs = F.interpolate(teacher_probs[:, None], size=size, mode='area')[:, 0]
        rois = positives.rois[unseen]
        labels = positives.labels[unseen]
        method = self.pseudo_mask['type']
        options = {k: v for k, v in self.pseudo_mask.items() if k != 'type'}
        if method == 'interact':
            options['student_probs'] = student_logits[unseen, labels].float().sigmoid()
        if method == 'crf':
            options['images'] = _rgb_crops(batch_gt_instances, rois, positives.img_idx[unseen],
                                           size)
        if method == NO_POST_PROCESSING:
            pseudo_masks = teacher_probs
        else:
            pseudo_masks = pseudo.make_pseudo_masks(method, teacher_probs, **options)
        if self.clean_pseudo:
            seen_union = _seen_union_masks(batch_gt_instances).to(rois.device)
            pseudo_masks = pseudo.clean_pseudo_masks(
                pseudo_masks,
                pseudo.union_mask_on_rois(rois, positives.img_idx[unseen], seen_union, size),
                pseudo.box_mask_on_rois(rois, positives.gt_boxes[unseen], size))
        label_targets[unseen] = pseudo_masks.to(label_targets.dtype)

        if self._iteration() < self.pseudo_warmup_iters:
            weights[unseen] = 0
        elif self.pseudo_weighting == 'confidence':
            weights[unseen] = (2 * teacher_probs - 1).abs().flatten(1).mean(1).to(weights.dtype)
        return label_targets, weights

    def student_mask_loss(self, student_logits: Tensor, label_targets: Tensor, labels: Tensor,
                          weights: Tensor) -> Tensor:
        """Eq. 6: weighted mean over RoIs of the per-pixel BCE of Fs against its targets.

        student_logits: (P, C, h, w); label_targets: (P, h, w); labels: (P,); weights: (P,).
        RoIs of weight 0 (warm-up) neither count in the mean nor contribute.
        """
        if student_logits.shape[0] == 0:
            return student_logits.sum() * 0
        if self.student_loss == 'label_channel':
            logits = student_logits[torch.arange(len(labels), device=labels.device), labels]
            targets = label_targets
        else:
            logits = student_logits
            targets = class_channel_targets(label_targets, labels, student_logits.shape[1])
        per_roi = F.binary_cross_entropy_with_logits(
            logits.float(), targets.float(), reduction='none').flatten(1).mean(1)
        num_rois = (weights > 0).sum().clamp(min=1)
        return self.mask_head.loss_mask.loss_weight * (per_roi * weights).sum() / num_rois

    @staticmethod
    def _iteration() -> int:
        return int(MessageHub.get_current_instance().get_info('iter', 0))

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
        mask_feats = self._mask_forward(x, mask_rois)['mask_feats']
        mask_preds = self.teacher_head(mask_feats).split([len(res) for res in results_list], 0)
        return self.teacher_head.predict_by_feat(
            mask_preds=mask_preds, results_list=results_list, batch_img_metas=batch_img_metas,
            rcnn_test_cfg=self.test_cfg, rescale=rescale)


def _check_choice(name: str, value: str, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f'TeacherStudentRoIHead: unknown `{name}` {value!r}; '
                         f'expected one of {choices}')


def _seen_union_masks(batch_gt_instances: InstanceList) -> Tensor:
    """(B, H, W) bool: per image, the union of its seen-category GT masks (zero-padded to max)."""
    unions = []
    for gt in batch_gt_instances:
        masks = torch.from_numpy(gt.masks.to_ndarray()).bool()  # (N, H, W); N may be 0
        unions.append(masks[_has_mask(gt).cpu()].any(0))
    height = max(u.shape[0] for u in unions)
    width = max(u.shape[1] for u in unions)
    return torch.stack([F.pad(u, (0, width - u.shape[1], 0, height - u.shape[0])) for u in unions])


def _rgb_crops(batch_gt_instances: InstanceList, rois: Tensor, img_idx: Tensor,
               size: Tuple[int, int]) -> Tensor:
    """(U, 3, h, w) RGB [0, 255] image crops RoI-aligned like the mask targets, for the dense CRF."""
    try:
        images = torch.stack([gt.metainfo[RGB_IMAGE_KEY] for gt in batch_gt_instances])
    except KeyError:
        raise ValueError(
            "TeacherStudentRoIHead: pseudo_mask type 'crf' needs the training images; set the "
            "model's data_preprocessor type to 'ImageKeepingDetDataPreprocessor'") from None
    boxes = torch.cat([img_idx.to(images.dtype)[:, None], rois.to(images.dtype)], dim=1)
    return roi_align(images, boxes, size, spatial_scale=1.0, sampling_ratio=0, aligned=True)
