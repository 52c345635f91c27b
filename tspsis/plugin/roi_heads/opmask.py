"""OPMask (Biertimpel et al. 2021) and OPMask + teacher-student (paper Sec. 4.3, 5.1 "Class Activation
Map", Table 1), after the authors' detectron2 code (github.com/dbtmpl/OPMask).

* :class:`CAMBBoxHead`: convolutions, then global average pooling and linear classifier / regressor
  (Eq. 8, p_cls = GAP(F) . W_cls + b_cls). Its last feature map F (N, D, 7, 7) gives the class-activation
  map CAM_ij = F_ij . W_cls + b_cls (Eq. 9, :mod:`tspsis.core.cam`).
* Object mask prior (OPMask's ``FPNCamRoiHeads`` + ``CamMaskHead``): the CAM channel of each RoI's class
  (ground-truth label in training, predicted label at test time) is min-max normalised to [0, 1],
  resized bilinearly to the mask RoI grid (7x7 -> 14x14) and *added* to every channel of the mask RoI
  features before the first mask convolution (OPMask adds, it does not concatenate). As in OPMask the
  classifier W_cls, b_cls is detached for the CAM — the mask loss does not move the classifier — while
  F is not, so the mask loss also trains the box head's convolutions.
* :class:`OPMaskRoIHead`: partially supervised OPMask; the class-agnostic mask head learns from the
  positive RoIs of seen (``has_mask``) objects only (:class:`~tspsis.plugin.roi_heads.partial_roi_head.PartialRoIHead`).
* :class:`TeacherStudentOPMaskRoIHead`: the same object mask prior under
  :class:`~tspsis.plugin.roi_heads.teacher_student.TeacherStudentRoIHead`: teacher Ft = OPMask's class-agnostic mask
  head, student Fs = its class-specific twin, both fed the prior-enhanced features. OPMask's losses are
  unchanged (``loss_mask`` is named ``loss_mask_teacher``); the only addition is ``loss_mask_student``.

Test time: the CAM needs F of the *detected* box, so the box head is run once more on the final boxes
(the mask RoIs), which aligns the CAM with the mask RoI as in training. (OPMask instead reuses the box
features of the proposal each detection came from, i.e. the CAM of the box before its refinement.)
"""

from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import empty_instances
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import InstanceList

from tspsis.core import cam
from tspsis.plugin.roi_heads.partial_roi_head import PartialRoIHead, positive_rows
from tspsis.plugin.roi_heads.teacher_student import TeacherStudentRoIHead

__all__ = ['CAMBBoxHead', 'OPMaskRoIHead', 'TeacherStudentOPMaskRoIHead', 'object_mask_prior']


@MODELS.register_module()
class CAMBBoxHead(ConvFCBBoxHead):
    """OPMask's box head: ``num_convs`` 3x3 convolutions, GAP, linear classifier and regressor (Eq. 8).

    ``forward(x)``: x (N, C_in, 7, 7) RoI features -> cls_score (N, C + 1), bbox_pred (N, 4C or 4), like
    every mmdet box head. :meth:`features` gives F (N, D, 7, 7) (D = ``conv_out_channels``, 256 in the
    paper); :meth:`logits_from_features` applies Eq. 8 to it; :meth:`class_activation_maps` Eq. 9.
    Other arguments as mmdet's ``ConvFCBBoxHead`` (``norm_cfg`` for OPMask's SyncBN).
    """

    def __init__(self, num_convs: int = 4, **kwargs) -> None:
        if num_convs < 1:
            raise ValueError(f'CAMBBoxHead: `num_convs` must be >= 1, got {num_convs}')
        super().__init__(num_shared_convs=num_convs, with_avg_pool=True, **kwargs)
        if self.shared_fcs or self.cls_convs or self.cls_fcs or self.reg_convs or self.reg_fcs:
            raise ValueError('CAMBBoxHead: the classifier acts on GAP(F) directly (Eq. 8); set no '
                             '`num_shared_fcs`, `num_cls_*` or `num_reg_*` layers')
        if not all(type(getattr(self, layer, None)) is nn.Linear for layer in ('fc_cls', 'fc_reg')):
            raise ValueError("CAMBBoxHead: `cls_predictor_cfg` and `reg_predictor_cfg` must be "
                             "dict(type='Linear') (Eq. 8-9 need W_cls, b_cls)")

    def features(self, x: Tensor) -> Tensor:
        """F: (N, D, H, W), the last convolutional feature map, from RoI features x (N, C_in, H, W)."""
        for conv in self.shared_convs:
            x = conv(x)
        return x

    def logits_from_features(self, feats: Tensor) -> Tuple[Tensor, Tensor]:
        """Eq. 8: p_cls = GAP(F) . W_cls + b_cls (N, C + 1) and p_reg = GAP(F) . W_reg + b_reg."""
        cls_score = cam.gap_logits(feats, self.fc_cls.weight, self.fc_cls.bias)
        bbox_pred = self.fc_reg(feats.mean(dim=(2, 3)))
        return cls_score, bbox_pred

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        return self.logits_from_features(self.features(x))

    def class_activation_maps(self, feats: Tensor) -> Tensor:
        """Eq. 9 for the C object classes: (N, C, H, W) from F (N, D, H, W); background excluded."""
        num = self.num_classes
        return cam.class_activation_map(feats, self.fc_cls.weight[:num], self.fc_cls.bias[:num])

    def cam_for_labels(self, feats: Tensor, labels: Tensor) -> Tensor:
        """(N, 1, H, W): each RoI's CAM of its class labels (N,), with W_cls, b_cls detached (OPMask)."""
        num = self.num_classes
        return cam.cam_for_labels(feats, self.fc_cls.weight[:num].detach(),
                                  self.fc_cls.bias[:num].detach(), labels)


def object_mask_prior(cams: Tensor, size: Tuple[int, int]) -> Tensor:
    """OPMask's object mask prior: (N, 1, h, w) CAMs min-max normalised per RoI and resized bilinearly.

    cams: (N, 1, H, W). Returns (N, 1, *size) in [0, 1]; a constant map becomes 0.
    """
    return F.interpolate(cam.normalize_cam(cams), size=tuple(size), mode='bilinear',
                         align_corners=False)


class _ObjectMaskPriorMixin:
    """Adds OPMask's object mask prior to the mask RoI features of a Mask R-CNN style RoI head.

    In this head ``bbox_results['bbox_feats']`` is F, the box head's last feature map (P, D, 7, 7) —
    what ``StandardRoIHead.loss`` hands to ``mask_loss`` — not the RoI-aligned input of the box head.
    ``_positive_mask_feats`` (used by the mask losses of both parents) and ``predict_mask`` return
    mask RoI features + prior, so every mask head of the RoI head sees the prior.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        name = type(self).__name__
        if not isinstance(self.bbox_head, CAMBBoxHead):
            raise ValueError(f"{name}: `bbox_head.type` must be 'CAMBBoxHead' (the CAM of Eq. 9 needs "
                             f'convolutional box features), got {type(self.bbox_head).__name__}')
        if self.share_roi_extractor or self.with_shared_head:
            raise ValueError(f'{name}: needs its own `mask_roi_extractor` and no `shared_head`')

    def _bbox_forward(self, x: Tuple[Tensor], rois: Tensor) -> dict:
        """Box head on rois (n, 5): cls_score, bbox_pred (Eq. 8) and bbox_feats = F (n, D, 7, 7)."""
        roi_feats = self.bbox_roi_extractor(x[:self.bbox_roi_extractor.num_inputs], rois)
        feats = self.bbox_head.features(roi_feats)
        cls_score, bbox_pred = self.bbox_head.logits_from_features(feats)
        return dict(cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=feats)

    def _mask_feats_with_prior(self, x: Tuple[Tensor], rois: Tensor, box_feats: Tensor,
                               labels: Tensor) -> Tensor:
        """Mask RoI features of rois (n, 5) plus the prior from F (n, D, 7, 7) and labels (n,).

        Returns (n, C_in, 14, 14): each RoI's features with its normalised CAM added to every channel.
        """
        mask_feats = self.mask_roi_extractor(x[:self.mask_roi_extractor.num_inputs], rois)
        cams = self.bbox_head.cam_for_labels(box_feats, labels)
        return mask_feats + object_mask_prior(cams, mask_feats.shape[-2:])

    def _positive_mask_feats(self, x: Tuple[Tensor], sampling_results: List[SamplingResult],
                             bbox_feats: Tensor) -> Tensor:
        """Training: the positive RoIs' mask features + the prior of their ground-truth class.

        bbox_feats: F of the sampling results' RoIs (with ``mask_roi_source='gt_boxes'``, of the
        ground-truth boxes, :meth:`~tspsis.plugin.roi_heads.partial_roi_head.PartialRoIHead.mask_rois`).
        """
        rois = bbox2roi([res.pos_priors for res in sampling_results])
        labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        return self._mask_feats_with_prior(x, rois, positive_rows(sampling_results, bbox_feats), labels)

    def _test_mask_head(self) -> nn.Module:
        return self.mask_head

    def predict_mask(self, x: Tuple[Tensor], batch_img_metas: List[dict],
                     results_list: InstanceList, rescale: bool = False) -> InstanceList:
        """Masks of the detections, the prior from the predicted labels and the detected boxes."""
        rois = bbox2roi([res.bboxes for res in results_list])
        if rois.shape[0] == 0:
            return empty_instances(batch_img_metas, rois.device, task_type='mask',
                                   instance_results=results_list,
                                   mask_thr_binary=self.test_cfg.mask_thr_binary)
        labels = torch.cat([res.labels for res in results_list])
        box_feats = self._bbox_forward(x, rois)['bbox_feats']
        mask_feats = self._mask_feats_with_prior(x, rois, box_feats, labels)
        mask_head = self._test_mask_head()
        mask_preds = mask_head(mask_feats).split([len(res) for res in results_list], 0)
        return mask_head.predict_by_feat(mask_preds=mask_preds, results_list=results_list,
                                         batch_img_metas=batch_img_metas,
                                         rcnn_test_cfg=self.test_cfg, rescale=rescale)


@MODELS.register_module()
class OPMaskRoIHead(_ObjectMaskPriorMixin, PartialRoIHead):
    """Partially supervised OPMask (Table 1, "OPMask").

    ``bbox_head``: :class:`CAMBBoxHead`; ``mask_head``: class-agnostic ``FCNMaskHead`` (OPMask: 7 convs),
    trained on seen-category masks only (loss key ``loss_mask``). Needs a ``mask_roi_extractor``.
    """


@MODELS.register_module()
class TeacherStudentOPMaskRoIHead(_ObjectMaskPriorMixin, TeacherStudentRoIHead):
    """OPMask + teacher-student mask heads (Table 1, "OPMask + ours"; Sec. 4.3).

    Arguments as :class:`~tspsis.plugin.roi_heads.teacher_student.TeacherStudentRoIHead` (``pseudo_labeler``, ``student_loss``,
    ``test_mask_head``, ``fully_supervised``, ``mask_roi_source``); ``bbox_head`` is a
    :class:`CAMBBoxHead` and both Ft and Fs take the mask RoI features plus the object mask prior.
    Losses: OPMask's (``loss_mask`` as ``loss_mask_teacher``) + ``loss_mask_student`` (Eq. 7).
    """

    def _test_mask_head(self) -> nn.Module:
        return self.teacher_head if self.test_mask_head == 'teacher' else self.mask_head
