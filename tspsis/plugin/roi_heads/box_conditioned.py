"""Box-conditioned track: mask heads trained and tested on ground-truth boxes (no RPN, no box detection).

The paper's subject is the mask head — what it makes of the pixels inside a box that also holds other objects.
The box-conditioned track isolates it, as Deep-MAC does ("image + boxes in, per-box masks out"; Birodkar et al.,
ICCV 2021): the same heads, losses, ``has_mask`` rule, teacher/student targets and cleaning as the detector
track, only the RoIs differ.

* Training: :class:`GroundTruthProposals` stands in for the RPN of a two-stage detector and hands each image's
  ground-truth boxes (optionally jittered like proposals) to the RoI head as its proposals; with mmdet's
  ``PseudoSampler`` every one of them is a positive RoI, so each object trains the mask heads exactly once per
  iteration, and the box head's classifier trains on the same RoIs (OPMask's CAM, Eq. 8-9; MaskX's weight
  transfer need it).
* Test: the detections are the ground-truth boxes with their ground-truth labels (``test_cfg.rcnn.given_boxes``);
  the test-time mask head of the method (the student Fs for teacher-student, Sec. 4.3) predicts their masks, and
  each detection's score is the mask's mean foreground probability (:func:`mask_scores`), so COCO AP ranks
  masks by the head's own confidence. The box AP of this track is trivially ~100 and means nothing.

Config: ``configs/_base_/tracks/box-conditioned.py`` is the mixin that turns a two-stage model into this track.
"""
from __future__ import annotations


import torch
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import InstanceList, OptConfigType

__all__ = ['GroundTruthProposals', 'given_box_results', 'mask_scores', 'predict_given_boxes', 'uses_given_boxes']


@MODELS.register_module()
class GroundTruthProposals(BaseModule):
    """RPN stand-in of the box-conditioned track: the proposals are the ground-truth boxes.

    Args:
        jitter: training only; each box corner moves by up to ``jitter`` x the box's width / height (uniform),
            the box stays inside the image. 0 (default): the exact ground-truth boxes, the RoIs of the test.
        num_classes, train_cfg, test_cfg: accepted (``TwoStageDetector`` passes them to its RPN) and unused.
    """

    def __init__(self, jitter: float = 0.0, num_classes: int = 1, train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None, init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0 <= jitter < 0.5:
            raise ValueError(f'GroundTruthProposals: `jitter` must be in [0, 0.5), got {jitter}')
        self.jitter = jitter

    def loss_and_predict(self, x, batch_data_samples: SampleList, proposal_cfg=None):
        """No RPN loss; proposals (``bboxes``, (N, 4) xyxy) = each image's ground-truth boxes, jittered."""
        proposals = []
        for sample in batch_data_samples:
            boxes = sample.gt_instances.bboxes
            boxes = getattr(boxes, 'tensor', boxes)
            if self.jitter > 0 and len(boxes):
                boxes = self._jittered(boxes, sample.metainfo['img_shape'])
            proposals.append(InstanceData(bboxes=boxes.detach().clone(),
                                          scores=boxes.new_ones(len(boxes))))
        return {}, proposals

    def predict(self, x, batch_data_samples: SampleList, rescale: bool = False) -> InstanceList:
        """Test: the ground-truth boxes and labels of each image (score 1), in the network input's frame."""
        results = []
        for sample in batch_data_samples:
            if 'gt_instances' not in sample or 'bboxes' not in sample.gt_instances:
                raise ValueError('GroundTruthProposals: the test pipeline must load the ground-truth boxes '
                                 "(dict(type='LoadAnnotations', with_bbox=True) before packing) — the "
                                 'box-conditioned track predicts masks for the given boxes')
            boxes = sample.gt_instances.bboxes
            boxes = getattr(boxes, 'tensor', boxes)
            results.append(InstanceData(bboxes=boxes.clone(), labels=sample.gt_instances.labels.clone(),
                                        scores=boxes.new_ones(len(boxes))))
        return results

    def _jittered(self, boxes: Tensor, img_shape) -> Tensor:
        size = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
        moved = boxes + (torch.rand_like(boxes) * 2 - 1) * self.jitter * size
        height, width = img_shape[:2]
        moved = torch.minimum(moved.clamp(min=0), boxes.new_tensor([width, height, width, height]))
        # a corner may not cross its opposite one: keep at least one pixel
        moved[:, 2:] = torch.maximum(moved[:, 2:], moved[:, :2] + 1)
        return moved


def uses_given_boxes(test_cfg: OptConfigType) -> bool:
    """True when ``test_cfg`` (a RoI head's ``rcnn`` test config) asks for masks of the given boxes."""
    return bool(test_cfg is not None and test_cfg.get('given_boxes', False))


def given_box_results(rpn_results_list: InstanceList) -> InstanceList:
    """The detections of the box-conditioned track: the given boxes and labels as they are (no box head)."""
    return [InstanceData(bboxes=res.bboxes, labels=res.labels, scores=res.scores) for res in rpn_results_list]


def mask_scores(logits: Tensor, labels: Tensor, thr: float = 0.5) -> Tensor:
    """Score of each given box: the mean foreground probability of its mask, on the mask head's RoI grid.

    logits: (N, K, h, w) mask logits (K = 1 class-agnostic, or C: channel ``labels`` is the object's);
    labels: (N,). Returns (N,) float: the mean of p = sigmoid(logit) over the pixels with p >= thr (0 where
    there is none). On the RoI grid, not the pasted image-sized mask, whose interpolated border would lower the
    scores of small objects more than of large ones.
    """
    channel = labels if logits.shape[1] > 1 else torch.zeros_like(labels)
    probs = logits[torch.arange(len(labels), device=logits.device), channel].float().sigmoid()
    foreground = probs >= thr
    return (probs * foreground).flatten(1).sum(1) / foreground.flatten(1).sum(1).clamp(min=1)


def predict_given_boxes(roi_head, x, rpn_results_list: InstanceList, batch_data_samples: SampleList,
                        rescale: bool = False) -> InstanceList:
    """``roi_head.predict`` of the box-conditioned track: masks and scores of the given boxes.

    The RoI head's own ``predict_mask`` runs, so each method's test-time mask head, CAM prior or generated
    weights decide the masks; a forward hook on its mask heads keeps the logits that :func:`mask_scores` turns
    into each box's score.
    """
    batch_img_metas = [sample.metainfo for sample in batch_data_samples]
    results_list = given_box_results(rpn_results_list)
    logits: list = []
    heads = [m for m in roi_head.modules() if isinstance(m, FCNMaskHead)]
    hooks = [head.register_forward_hook(lambda module, args, out: logits.append(out)) for head in heads]
    try:
        results_list = roi_head.predict_mask(x, batch_img_metas, results_list, rescale=rescale)
    finally:
        for hook in hooks:
            hook.remove()
    if sum(len(res) for res in results_list) == 0:
        return results_list
    if len(logits) != 1:
        raise RuntimeError(f'{type(roi_head).__name__}: expected one mask-head forward at test, saw {len(logits)}')
    labels = torch.cat([res.labels for res in results_list])
    thr = roi_head.test_cfg.get('mask_thr_binary', 0.5)
    scores = mask_scores(logits[0], labels, thr).split([len(res) for res in results_list])
    for res, image_scores in zip(results_list, scores):
        res.scores = image_scores
    return results_list
