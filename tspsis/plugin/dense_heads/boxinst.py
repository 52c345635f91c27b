"""BoxInst for partially supervised instance segmentation, alone and with teacher-student mask heads.

The "BoxInst" and "BoxInst + ours" rows of the paper's Table 1 and the r(.) comparison of Table 5. mmdet 3.3's
BoxInst (Tian et al., CVPR 2021) is an FCOS box head plus a CondInst dynamic mask head: for every positive location
the box tower's *controller* (a 3x3 conv) emits the weights of a small per-object conv stack (3 layers of 1x1 convs,
16 channels) that runs on the shared mask-branch features (plus coordinates relative to the location) and gives the
object's mask logits on the stride-4 image grid. BoxInst trains it from boxes alone: a projection term (the mask's
x/y projections against the box's) and a pairwise term (neighbouring pixels of similar LAB colour get the same label).

* The data preprocessor (box masks, colour-similarity pairwise masks, the annotated masks of the partial data set
  and the RGB images) is :class:`tspsis.plugin.data_preprocessors.boxinst_preprocessor.PartialBoxInstDataPreprocessor`.
* :class:`PartialBoxInstMaskHead` ("BoxInst", Table 1): BoxInst's losses unchanged on every object (boxes exist for
  seen and unseen categories) plus ``loss_mask_seen``: the CondInst mask loss (dice) against the ground-truth mask of
  the positives whose object ``has_mask`` (seen categories S, Eq. 5).
* :class:`TeacherStudentBoxInstBboxHead` + :class:`TeacherStudentBoxInstMaskHead` ("BoxInst + ours").

Teacher and student for BoxInst (Sec. 4.1 transferred; Sec. 4.3 "we keep their original settings unchanged and add
the teacher-student architecture ... the only additional loss introduced by our method is the segmentation loss of
student mask head"). In Mask R-CNN, Ft and Fs are two conv stacks on the same RoI features x with 1 and C output
channels (Eq. 2). BoxInst has no RoI features; an object's "mask head" is its dynamic conv stack, run on the shared
mask-branch features with weights generated for that object. So here:

* Ft is BoxInst's dynamic mask head exactly as it is: class-agnostic, one output channel, weights from BoxInst's
  controller, trained by BoxInst's projection + pairwise losses (all objects, from boxes) and by ``loss_mask_seen``
  (seen objects, from masks, L_segT of Eq. 5/7).
* Fs is a second dynamic head of the same depth and width on the same mask-branch features and relative
  coordinates, with C output channels; its weights come from a second controller beside BoxInst's (a 3x3 conv on
  the same box-tower feature, :class:`TeacherStudentController`). For an object of class l only channel l is
  evaluated (the dynamic weights of output channel l are picked before the convolution): the loss of Eq. 6 is taken
  on channel l, Mask R-CNN's convention, and C full-image maps per object would cost C times the memory.
* L_segS (Eq. 6): the same dice loss as BoxInst's mask loss, per positive, against the ground-truth mask (seen) or
  r(Mt) (unseen), where Mt is the teacher's prediction *for the same positive location*, r is threshold / interact /
  CRF (Sec. 4.2) and the pseudo mask is cleaned (Sec. 5.1: pixels inside any seen ground-truth mask of the image
  and outside the object's box are background): the targets, and a weight per positive (warm-up, weighting), come
  from the same :class:`~tspsis.plugin.task_modules.pseudo_labeler.PseudoLabeler` as Mask R-CNN's. Positives are those BoxInst's
  own mask losses use (its top-k per object). Targets carry no gradient; Ft gets none from L_segS.
* At test time Fs predicts (Sec. 4.3), with channel l = the detection's class; ``test_mask_head='teacher'``
  predicts with Ft of the same checkpoint instead.

Grids: mask predictions and targets live on the padded image's stride-4 grid, cell (r, c) standing for the pixel
(4c + 2, 4r + 2) that BoxInst samples its targets at. r = CRF runs on a ``crf_roi_size`` x ``crf_roi_size`` grid
RoI-aligned on the object's ground-truth box (the exact dense CRF of tspsis.core.pseudo is O(cells^2)), and its binary
result is sampled back to the stride-4 grid (nearest cell), zero outside the box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet.models.dense_heads import BoxInstBboxHead, BoxInstMaskHead
from mmdet.registry import MODELS
from mmdet.utils import InstanceList, OptConfigType

from tspsis.plugin.data_preprocessors.boxinst_preprocessor import ANNOTATED_MASKS
from tspsis.plugin.task_modules.pseudo_labeler import StudentTargets, teacher_student_init, weighted_roi_mean
from tspsis.plugin.utils.partial_supervision import (has_mask_of, prepare_partial_instances, rgb_crops, rgb_images,
                                                     seen_union_masks)

__all__ = [
    'PartialBoxInstMaskHead',
    'SelectedPositives',
    'TeacherStudentBoxInstBboxHead',
    'TeacherStudentBoxInstMaskHead',
    'TeacherStudentController',
]

@dataclass
class SelectedPositives:
    """The positives of one image that BoxInst's mask losses use (mmdet's top-k per object), K of them.

    index: (K,) rows of the image's mask predictions; labels: (K,) class l of each positive's object; has_mask:
    (K,) bool, the object has a ground-truth mask (seen category); gt_masks: (K, h, w) float, the object's annotated
    mask on the stride grid (zeros for box-only objects); gt_boxes: (K, 4) xyxy of the object; seen_union: (h, w)
    bool, the union of the image's seen ground-truth masks (ignored/crowd ones included) on the grid.
    """

    index: Tensor
    labels: Tensor
    has_mask: Tensor
    gt_masks: Tensor
    gt_boxes: Tensor
    seen_union: Tensor


@MODELS.register_module()
class PartialBoxInstMaskHead(BoxInstMaskHead):
    """BoxInst's mask head with seen-category masks (the "BoxInst" rows of Table 1).

    Losses: BoxInst's ``loss_mask_project`` and ``loss_mask_pairwise`` on all objects, unchanged, and
    ``loss_mask_seen``: ``loss_mask_seen`` (default: the head's ``loss_mask``, the CondInst dice loss) of the
    predictions of the selected positives whose object ``has_mask``, against its ground-truth mask sampled on the
    stride-4 grid as CondInst samples its targets; summed over positives and divided by their number. Box-only
    objects never enter it, so their (absent) masks cannot leak into training.

    Needs :class:`PartialBoxInstDataPreprocessor`. Training batches must carry ``gt_instances.has_mask``
    (``PackPartialDetInputs``) unless ``fully_supervised=True`` (then instances without it count as mask-annotated).
    """

    def __init__(self, *args, loss_mask_seen: OptConfigType = None, fully_supervised: bool = False,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.loss_mask_seen = MODELS.build(loss_mask_seen) if loss_mask_seen else self.loss_mask
        self.fully_supervised = bool(fully_supervised)

    def loss(self, x: tuple, batch_data_samples: list, positive_infos: InstanceList = None, **kwargs) -> dict:
        """BoxInst's, after checking ``has_mask`` (:func:`prepare_partial_instances`)."""
        prepare_partial_instances(batch_data_samples, fully_supervised=self.fully_supervised,
                                  owner=type(self).__name__)
        return super().loss(x, batch_data_samples, positive_infos=positive_infos, **kwargs)

    def loss_by_feat(self, mask_preds: List[Tensor], batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict], positive_infos: InstanceList, **kwargs) -> dict:
        """mask_preds: per image (P_i, h, w) logits of its positives."""
        losses = super().loss_by_feat(mask_preds, batch_gt_instances, batch_img_metas, positive_infos, **kwargs)
        selections = self.select_positives(batch_gt_instances, positive_infos)
        losses['loss_mask_seen'] = self.seen_mask_loss(mask_preds, selections)
        return losses

    def select_positives(self, batch_gt_instances: InstanceList,
                         positive_infos: InstanceList) -> List[SelectedPositives]:
        """Per image, the positives BoxInst's losses use, with their targets.

        The choice is mmdet's own (``_get_targets_single``, top-k per object by score x centerness): it is run on
        the positions 0..P-1 in place of the predictions, which it only indexes, so the chosen positions come back.
        With ``max_masks_to_train`` set mmdet draws a random subset; this draws another one.
        """
        return [self._select_single(gt, info) for gt, info in zip(batch_gt_instances, positive_infos)]

    def _select_single(self, gt_instances: InstanceData, positive_info: InstanceData) -> SelectedPositives:
        if ANNOTATED_MASKS not in gt_instances:
            raise ValueError(f'{type(self).__name__}: gt_instances has no `{ANNOTATED_MASKS}`; set the model\'s '
                             "data_preprocessor type to 'PartialBoxInstDataPreprocessor'")
        gt_inds = positive_info.pos_assigned_gt_inds
        order = torch.arange(len(gt_inds), device=gt_inds.device)
        index = self._get_targets_single(order, gt_instances, positive_info)[0]
        gt_inds = gt_inds[index]

        start, stride = self.mask_out_stride // 2, self.mask_out_stride
        device = gt_instances.bboxes.device
        annotated = gt_instances.get(ANNOTATED_MASKS).to_tensor(dtype=torch.bool, device=device)
        annotated = annotated[:, start::stride, start::stride]  # (N, h, w)
        seen_union = seen_union_masks([gt_instances], ANNOTATED_MASKS)[0, start::stride, start::stride]
        return SelectedPositives(
            index=index,
            labels=gt_instances.labels[gt_inds],
            has_mask=has_mask_of(gt_instances, type(self).__name__)[gt_inds],
            gt_masks=annotated[gt_inds].float(),
            gt_boxes=gt_instances.bboxes[gt_inds],
            seen_union=seen_union.to(device))

    def seen_mask_loss(self, mask_preds: List[Tensor], selections: Sequence[SelectedPositives]) -> Tensor:
        """Eq. 5 for BoxInst: mean over the selected seen positives of ``loss_mask_seen``; without any, 0 with
        every prediction in the graph."""
        total = mask_preds[0].new_zeros(())
        count = 0
        for preds, sel in zip(mask_preds, selections):
            seen = sel.has_mask
            if bool(seen.any()):
                total = total + self.loss_mask_seen(preds[sel.index[seen]], sel.gt_masks[seen],
                                                    reduction_override='none').sum()
                count += int(seen.sum())
        if count == 0:
            return sum(preds.sum() for preds in mask_preds) * 0
        return total / count


class TeacherStudentController(nn.Conv2d):
    """BoxInst's controller (the teacher's dynamic weights) with the student's controller beside it.

    The teacher part is BoxInst's 3x3 conv as it is (same parameter names, so BoxInst checkpoints load); the
    student's is a second 3x3 conv on the same box-tower feature. Output: (B, P_t + P_s, H, W), the teacher's P_t
    parameters first.
    """

    def __init__(self, in_channels: int, teacher_params: int, student_params: int) -> None:
        super().__init__(in_channels, teacher_params, 3, padding=1)
        self.student = nn.Conv2d(in_channels, student_params, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([super().forward(x), self.student(x)], dim=1)


@MODELS.register_module()
class TeacherStudentBoxInstBboxHead(BoxInstBboxHead):
    """BoxInst's box head whose controller also predicts the student's dynamic weights.

    ``param_preds`` (and so ``positive_infos`` / detections' ``param_preds``) carry ``num_params`` teacher
    parameters followed by ``student_num_params`` student ones; everything else is BoxInst's.

    Args:
        num_params: the teacher's (BoxInst's dynamic head's) parameter count, 593 for 3 layers of 16 channels.
        student_num_params: the student's: the teacher's hidden layers plus C output channels, see
            :attr:`TeacherStudentBoxInstMaskHead.student_num_params` (its error message gives the number).
    """

    def __init__(self, *args, num_params: int = 169, student_num_params: int, **kwargs) -> None:
        self.student_num_params = student_num_params
        super().__init__(*args, num_params=num_params, **kwargs)
        self.num_params = num_params + student_num_params

    def _init_layers(self) -> None:
        super()._init_layers()
        self.controller = TeacherStudentController(self.feat_channels, self.num_params, self.student_num_params)


@MODELS.register_module()
class TeacherStudentBoxInstMaskHead(PartialBoxInstMaskHead):
    """Teacher Ft (BoxInst's dynamic head) and class-specific student Fs on BoxInst (see the module docstring).

    Losses (Eq. 7 with BoxInst's terms): BoxInst's ``loss_mask_project`` / ``loss_mask_pairwise`` and
    ``loss_mask_seen`` train the teacher exactly as in :class:`PartialBoxInstMaskHead`; the one addition is
    ``loss_mask_student`` (Eq. 6): ``loss_mask_student`` (default: ``loss_mask``, dice) of Fs's channel l against the
    ground truth (seen) or the cleaned r(Mt) (unseen), weighted per positive by the pseudo-labeller (warm-up,
    weighting), summed over BoxInst's selected positives and divided by the number of those of weight > 0. Use with
    :class:`TeacherStudentBoxInstBboxHead` and :class:`PartialBoxInstDataPreprocessor`.

    Args:
        num_classes: C, the student's output channels.
        pseudo_labeler: the student's targets for unseen objects, r(Mt) (Eq. 4/6), cleaning, warm-up and weighting:
            ``dict(type='PseudoLabeler', post_process=dict(type='threshold', thr=0.5), clean=True, warmup_iters=0,
            weighting='none')``, see :class:`~tspsis.plugin.task_modules.pseudo_labeler.PseudoLabeler`.
        crf_roi_size: side of the box-aligned grid the CRF runs on (``post_process.type='crf'`` only).
        loss_mask_student: L_segS; None: the head's ``loss_mask``.
        test_mask_head: ``'student'`` (Sec. 4.3) or ``'teacher'`` (Ft of the same checkpoint, for analysis).
        loss_mask_seen, fully_supervised: as :class:`PartialBoxInstMaskHead`.
    """

    def __init__(self,
                 *args,
                 num_classes: int,
                 pseudo_labeler: OptConfigType = None,
                 crf_roi_size: int = 28,
                 loss_mask_student: OptConfigType = None,
                 test_mask_head: str = 'student',
                 **kwargs) -> None:
        labeler = teacher_student_init(type(self).__name__, kwargs, pseudo_labeler, test_mask_head)
        super().__init__(*args, **kwargs)
        self.num_classes = num_classes
        self.pseudo_labeler = labeler
        self.crf_roi_size = crf_roi_size
        self.loss_mask_student = MODELS.build(loss_mask_student) if loss_mask_student else self.loss_mask
        self.test_mask_head = test_mask_head

    @property
    def student_num_params(self) -> int:
        """Fs's dynamic parameters: the teacher's hidden layers and C output channels (weights and biases)."""
        hidden = sum(self.weight_nums[:-1]) + sum(self.bias_nums[:-1])
        return hidden + self.num_classes * (self.weight_nums[-1] + 1)

    def student_params_for_labels(self, params: Tensor, labels: Tensor) -> Tensor:
        """Fs's parameters with only output channel l, in BoxInst's layout, so mmdet's dynamic conv runs them.

        params: (K, P_s) laid out as [hidden weights | hidden biases | C x last weights | C last biases];
        labels: (K,). Returns (K, P_t): [hidden weights | channel-l weights | hidden biases | channel-l bias].
        """
        hidden_w, hidden_b, last_w = sum(self.weight_nums[:-1]), sum(self.bias_nums[:-1]), self.weight_nums[-1]
        w_hidden, b_hidden, w_last, b_last = params.split(
            [hidden_w, hidden_b, self.num_classes * last_w, self.num_classes], dim=1)
        rows = torch.arange(len(labels), device=labels.device)
        w_last = w_last.reshape(len(labels), self.num_classes, last_w)[rows, labels]
        return torch.cat([w_hidden, w_last, b_hidden, b_last[rows, labels, None]], dim=1)

    # ------------------------------------------------------------------------------------------------ forward
    def forward(self, x: tuple, positive_infos: InstanceList) -> Tuple[List[Tensor], List[Tensor]]:
        """Teacher and student mask logits of every positive / detection.

        positive_infos: per image ``param_preds`` (P_i, P_t + P_s), ``points``, ``strides`` and ``labels`` (the
        class each student prediction is for). Returns (teacher, student): per image (P_i, h, w) logits each.
        """
        mask_feats = self.mask_feature_head(x)
        teacher, student = [], []
        for mask_feat, info in zip(mask_feats, positive_infos):
            params = info.param_preds
            expected = self.num_params + self.student_num_params
            if params.shape[1] != expected:
                raise ValueError(f'TeacherStudentBoxInstMaskHead: got {params.shape[1]} dynamic parameters per '
                                 f'object, expected {expected}; set bbox_head.student_num_params='
                                 f'{self.student_num_params} (bbox_head.num_params={self.num_params})')
            if 'labels' not in info:
                raise ValueError('TeacherStudentBoxInstMaskHead: the student needs each object\'s `labels`')
            teacher_params, student_params = params.split([self.num_params, self.student_num_params], dim=1)
            teacher.append(self.forward_single(mask_feat, _with_params(info, teacher_params))[0])
            student_params = self.student_params_for_labels(student_params, info.labels)
            student.append(self.forward_single(mask_feat, _with_params(info, student_params))[0])
        return teacher, student

    # ---------------------------------------------------------------------------------------------- training
    def loss(self, x: tuple, batch_data_samples: list, positive_infos: InstanceList = None, **kwargs) -> dict:
        """As BoxInst's, with each positive's class l added to ``positive_infos`` for the student."""
        for info, data_sample in zip(positive_infos, batch_data_samples):
            info.labels = data_sample.gt_instances.labels[info.pos_assigned_gt_inds]
        return super().loss(x, batch_data_samples, positive_infos=positive_infos, **kwargs)

    def loss_by_feat(self, mask_preds: List[Tensor], student_mask_preds: List[Tensor],
                     batch_gt_instances: InstanceList, batch_img_metas: List[dict],
                     positive_infos: InstanceList, **kwargs) -> dict:
        """BoxInst's and the seen-mask losses on the teacher, plus ``loss_mask_student`` (Eq. 6, 7)."""
        losses = super().loss_by_feat(mask_preds, batch_gt_instances, batch_img_metas, positive_infos, **kwargs)
        selections = self.select_positives(batch_gt_instances, positive_infos)
        per_positive, weights = [], []
        for teacher, student, sel, gt in zip(mask_preds, student_mask_preds, selections, batch_gt_instances):
            if len(sel.index) == 0:
                continue
            student = student[sel.index]
            targets, weight = self.student_targets(teacher[sel.index], student, sel, gt)
            per_positive.append(self.loss_mask_student(student, targets, reduction_override='none'))
            weights.append(weight)
        if not per_positive:
            losses['loss_mask_student'] = sum(preds.sum() for preds in student_mask_preds) * 0
        else:
            losses['loss_mask_student'] = weighted_roi_mean(torch.cat(per_positive), torch.cat(weights))
        return losses

    def student_targets(self, teacher_logits: Tensor, student_logits: Tensor, selected: SelectedPositives,
                        gt_instances: InstanceData) -> StudentTargets:
        """Target of Fs's channel l and loss weight of each selected positive of one image (Eq. 4, 6).

        teacher_logits / student_logits: (K, h, w) Mt / Ms (channel l) logits of the selected positives on the
        stride grid; gt_instances: the image's, whose metainfo holds the RGB image (r = CRF only). The
        :class:`~tspsis.plugin.task_modules.pseudo_labeler.PseudoLabeler` works in grid cells here: every positive's grid is the
        whole stride grid (cell c stands for pixel stride * c + stride / 2), boxes are divided by the stride, and
        r = CRF runs on a ``crf_roi_size`` x ``crf_roi_size`` grid on the object's box (the exact dense CRF is
        O(cells^2)) and is pasted back, zero outside the box. Returns targets (K, h, w) float and weights (K,).
        """
        height, width = selected.gt_masks.shape[-2:]
        stride = self.mask_out_stride
        boxes = selected.gt_boxes.float()
        grid = boxes.new_tensor([0, 0, width, height]).expand(len(boxes), 4)
        size = (self.crf_roi_size, self.crf_roi_size)

        def crops(rows: Tensor) -> Tensor:  # (U, 3, s, s) RGB crops of the objects' boxes, for r = CRF
            image = rgb_images([gt_instances], 'PartialBoxInstDataPreprocessor')
            return rgb_crops(image.float(), boxes[rows], torch.zeros_like(rows), size)

        return self.pseudo_labeler(
            gt_targets=selected.gt_masks, teacher_logits=teacher_logits, student_logits=student_logits,
            labels=selected.labels, has_mask=selected.has_mask, rois=grid, gt_boxes=boxes / stride,
            seen_union=selected.seen_union[None], img_idx=torch.zeros_like(selected.labels), images=crops,
            crf_windows=boxes / stride)

    # --------------------------------------------------------------------------------------------- inference
    def predict_by_feat(self, mask_preds: List[Tensor], student_mask_preds: List[Tensor],
                        results_list: InstanceList, batch_img_metas: List[dict], rescale: bool = True,
                        **kwargs) -> InstanceList:
        """Masks from the student, channel l = the detection's class (Sec. 4.3), or from the teacher."""
        chosen = student_mask_preds if self.test_mask_head == 'student' else mask_preds
        return super().predict_by_feat(chosen, results_list, batch_img_metas, rescale=rescale, **kwargs)


def _with_params(info: InstanceData, params: Tensor) -> InstanceData:
    """The fields mmdet's ``CondInstMaskHead.forward_single`` reads, with other dynamic parameters."""
    return InstanceData(param_preds=params, points=info.points, strides=info.strides)

