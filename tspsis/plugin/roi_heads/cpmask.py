"""CPMask (Fan et al., ECCV 2020) on a partially supervised Mask R-CNN: the "CPMask" row of the paper's Table 1.

CPMask ("Commonality-Parsing Network across Shape and Appearance for Partially Supervised Instance Segmentation")
adds two class-agnostic auxiliary tasks to the mask head, learned on the mask-annotated (seen) categories and meant
to transfer to unseen ones: *shape* commonalities by supervised instance-boundary prediction and *appearance*
commonalities by pairwise pixel affinities that separate the instance from the background (the paper's abstract).
The authors announced code (github.com/fanq15/CPMask: "coming soon", never released). What is implemented here
follows the abstract plus two public pieces of the authors' code base, and is an assumption wherever they are silent:

* Boundary target: ``fewx/layers/boundary.py`` of fanq15/FewX (the first author's repository): the 2-pixel contour
  "1 out + 1 in" = binary dilation XOR binary erosion of the ground-truth mask with skimage's default 4-connected
  cross, on the mask head's RoI grid (28 x 28). At the grid border, erosion treats the outside as foreground
  (skimage's ``binary_erosion`` pads with True) and dilation as background, so a mask that fills the RoI up to its
  edge has no boundary there. :func:`boundary_targets`.
* Head and losses: a FewX-based ``CPMaskConvUpsampleHead`` found in public code (repository not identified; it
  imports FewX's boundary code), read, not copied:
    - a boundary branch (4 convs, deconv, 1x1 predictor: Mask R-CNN's mask-head layout) on the RoI features x;
      its features are fused into the mask branch through a learned gate: x <- x + b * sigmoid(conv1x1([x, b])),
      then a 1x1 conv + GN + ReLU;
    - the mask branch's 4 convs, followed by a non-local block whose attention matrix is the *pixel affinity*
      A = softmax_q(Q^T K / sqrt(D)) over the 14 x 14 RoI cells, Q, K, V ReLU'd 1x1 convs of the features, Q and K
      standardised over channels; x <- x + BN(conv1x1(V A^T)) with the BN's scale zero-initialised (the code's
      comment "should be zero initialized"; its nn.BatchNorm2d was left at 1), then deconv + predictor;
    - ``loss_boundary``: per-pixel BCE of the boundary logits against the boundary target, weight 0.5;
    - ``loss_affinity``: the ground-truth mask is sampled onto the 14 x 14 affinity grid (nearest, every second
      cell); for each RoI with foreground there, a = mean over foreground cells p of sum over foreground cells q
      of A[p, q] (the attention mass a foreground pixel puts on the foreground, ideally 1); the loss is the L1
      distance |1 - a| averaged over RoIs, weight 0.5. (The code built the per-RoI values with torch.tensor(),
      which cuts the graph, so its loss trained nothing; here it keeps its gradient, which is what the paper's
      "optimize the separability between instance and the background" asks for.)
    - ``loss_mask``: Mask R-CNN's per-pixel BCE, class-agnostic head.
  A small epsilon keeps the channel standardisation finite where a cell's features are constant (ReLU zeros).
* Detector: Mask R-CNN (the head above is an RoI mask head; Table 1 compares everything on R50-FPN in MMDetection).
* Partial supervision: every mask-related loss (mask, boundary, affinity) uses only the positive RoIs whose object
  ``has_mask`` (:class:`tspsis.plugin.roi_heads.partial_roi_head.PartialRoIHead`'s selection); the box-only objects of unseen
  categories train the box head only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, InstanceList

from tspsis.plugin.roi_heads.partial_roi_head import PartialRoIHead, PositiveRoIs, mask_targets, seen_mask_loss

__all__ = ['CPMaskHead', 'CPMaskOutputs', 'CPMaskRoIHead', 'PixelAffinity', 'affinity_loss', 'boundary_targets']


def boundary_targets(masks: Tensor) -> Tensor:
    """Instance boundary (CPMask's shape target): dilation(M) XOR erosion(M) with a 4-connected cross.

    masks: (N, H, W) bool. Outside the grid counts as background for the dilation and as foreground for the
    erosion (no boundary along the RoI border). Returns (N, H, W) bool: the pixels of M next to background and the
    background pixels next to M, a contour 2 pixels wide.
    """
    if masks.dim() != 3:
        raise ValueError(f'boundary_targets: `masks` must be (N, H, W), got shape {tuple(masks.shape)}')
    masks = masks.bool().to(torch.uint8)

    def cross(padded: Tensor) -> List[Tensor]:
        """The pixel and its 4 neighbours, each (N, H, W)."""
        return [padded[:, 1:-1, 1:-1], padded[:, :-2, 1:-1], padded[:, 2:, 1:-1],
                padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]]

    dilated = torch.stack(cross(F.pad(masks, (1, 1, 1, 1), value=0))).amax(0)
    eroded = torch.stack(cross(F.pad(masks, (1, 1, 1, 1), value=1))).amin(0)
    return (dilated != eroded)


def affinity_loss(affinity: Tensor, foreground: Tensor) -> Tensor:
    """CPMask's affinity loss: mean over RoIs of |1 - a|, a = mean_{p in fg} sum_{q in fg} A[p, q].

    affinity: (N, P, P), each row a distribution over the P = h * w cells; foreground: (N, h, w) bool. RoIs without
    foreground do not count; without any such RoI the loss is 0 (affinity kept in the graph). Returns a scalar.
    """
    if foreground.dim() != 3 or affinity.shape != (foreground.shape[0], foreground[0].numel(),
                                                  foreground[0].numel()):
        raise ValueError(f'affinity_loss: `affinity` must be (N, P, P) and `foreground` (N, h, w) with P = h * w; '
                         f'got {tuple(affinity.shape)} and {tuple(foreground.shape)}')
    fg = foreground.flatten(1).to(affinity.dtype)  # (N, P)
    mass_on_fg = torch.bmm(affinity, fg[:, :, None])[:, :, 0]  # (N, P): attention each cell puts on foreground
    num_fg = fg.sum(1)
    valid = num_fg > 0
    if not bool(valid.any()):
        return affinity.sum() * 0
    per_roi = (mass_on_fg * fg).sum(1)[valid] / num_fg[valid]
    return (1 - per_roi).abs().mean()


class PixelAffinity(nn.Module):
    """CPMask's non-local block on the mask features; its attention matrix is the pixel affinity A.

    x: (N, D, h, w) -> (x + BN(conv(V A^T)), A) with A: (N, h*w, h*w), rows summing to 1.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.query = ConvModule(channels, channels, 1)  # 1x1 conv + ReLU
        self.key = ConvModule(channels, channels, 1)
        self.value = ConvModule(channels, channels, 1)
        self.output = ConvModule(channels, channels, 1)
        self.blocker = nn.BatchNorm2d(channels, eps=1e-4)
        nn.init.zeros_(self.blocker.weight)  # the block starts as the identity
        self.eps = eps

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        num, channels, height, width = x.shape
        query = self._standardize(self.query(x).flatten(2))  # (N, D, P)
        key = self._standardize(self.key(x).flatten(2))
        value = self.value(x).flatten(2)
        affinity = torch.softmax(query.transpose(1, 2) @ key / math.sqrt(channels), dim=-1)  # (N, P, P)
        relation = (value @ affinity.transpose(1, 2)).reshape(num, channels, height, width)
        return x + self.blocker(self.output(relation)), affinity

    def _standardize(self, features: Tensor) -> Tensor:
        """(N, D, P) features standardised over the D channels of each cell."""
        std, mean = torch.std_mean(features, dim=1, keepdim=True)
        return (features - mean) / (std + self.eps)


@dataclass
class CPMaskOutputs:
    """mask_logits, boundary_logits: (N, 1, H, W) on the RoI grid (28 x 28); affinity: (N, h*w, h*w) on the mask
    features' grid (14 x 14), whose size is affinity_size (h, w)."""

    mask_logits: Tensor
    boundary_logits: Tensor
    affinity: Tensor
    affinity_size: Tuple[int, int]


def _logits(head: FCNMaskHead, features: Tensor) -> Tensor:
    """An FCNMaskHead's layers after its convs: upsampling (+ ReLU after a deconv) and the 1x1 predictor."""
    if head.upsample is not None:
        features = head.upsample(features)
        if head.upsample_method == 'deconv':
            features = head.relu(features)
    return head.conv_logits(features)


@MODELS.register_module()
class CPMaskHead(FCNMaskHead):
    """Class-agnostic mask head with CPMask's boundary branch and pixel-affinity block (see the module docstring).

    ``forward`` returns the mask logits (N, 1, H, W) as ``FCNMaskHead`` does, so mmdet's inference is unchanged;
    training uses :meth:`forward_train` and :meth:`auxiliary_losses`.

    Args:
        loss_boundary: loss of the boundary logits against :func:`boundary_targets` (per-pixel BCE, weight 0.5).
        loss_affinity_weight: weight of :func:`affinity_loss` (0.5).
        Others: ``FCNMaskHead``'s; the boundary branch copies the mask branch's convs and upsampling.
    """

    def __init__(self,
                 *,
                 loss_boundary: ConfigType = dict(type='CrossEntropyLoss', use_mask=True, loss_weight=0.5),
                 loss_affinity_weight: float = 0.5,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not self.class_agnostic:
            raise ValueError('CPMaskHead: `class_agnostic` must be True (CPMask segments unseen categories with '
                             'one foreground channel)')
        if self.conv_out_channels != self.in_channels or self.num_convs < 1:
            raise ValueError('CPMaskHead: `conv_out_channels` must equal `in_channels` and `num_convs` be >= 1 (the '
                             f'boundary features are added to the RoI features); got {self.conv_out_channels}, '
                             f'{self.in_channels}, {self.num_convs}')
        self.boundary_head = FCNMaskHead(**{**kwargs, 'class_agnostic': True, 'loss_mask': loss_boundary})
        channels = self.in_channels
        self.boundary_gate = nn.Conv2d(2 * channels, 1, 1)
        self.mask_transform = ConvModule(channels, channels, 1,
                                         norm_cfg=dict(type='GN', num_groups=32, requires_grad=True))
        self.pixel_affinity = PixelAffinity(channels)
        self.loss_affinity_weight = loss_affinity_weight

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, D, h, w) mask RoI features. Returns (N, 1, 2h, 2w) mask logits."""
        return self._mask_branch(x)[0]

    def forward_train(self, x: Tensor) -> CPMaskOutputs:
        mask_logits, boundary_feats, affinity = self._mask_branch(x)
        return CPMaskOutputs(mask_logits, _logits(self.boundary_head, boundary_feats), affinity,
                             tuple(x.shape[-2:]))

    def _mask_branch(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Mask logits, boundary-branch features (N, D, h, w) and the affinity (N, h*w, h*w)."""
        boundary_feats = x
        for conv in self.boundary_head.convs:
            boundary_feats = conv(boundary_feats)
        gate = torch.sigmoid(self.boundary_gate(torch.cat([x, boundary_feats], dim=1)))
        x = self.mask_transform(x + boundary_feats * gate)
        for conv in self.convs:
            x = conv(x)
        x, affinity = self.pixel_affinity(x)
        return _logits(self, x), boundary_feats, affinity

    def auxiliary_losses(self, outputs: CPMaskOutputs, targets: Tensor, has_mask: Tensor) -> dict:
        """``loss_boundary`` and ``loss_affinity`` on the RoIs whose object has a ground-truth mask.

        targets: (P, H, W) mask targets on the RoI grid; has_mask: (P,) bool. Without such RoIs both are 0, every
        output still in the graph.
        """
        if not bool(has_mask.any()):
            zero = outputs.boundary_logits.sum() * 0 + outputs.affinity.sum() * 0
            return dict(loss_boundary=zero, loss_affinity=zero.clone())
        seen_targets = targets[has_mask] >= 0.5
        boundary = boundary_targets(seen_targets).to(outputs.boundary_logits.dtype)
        labels = torch.zeros(len(boundary), dtype=torch.long, device=boundary.device)
        loss_boundary = self.boundary_head.loss_mask(outputs.boundary_logits[has_mask], boundary, labels)
        foreground = F.interpolate(seen_targets[:, None].float(), size=outputs.affinity_size,
                                   mode='nearest')[:, 0] > 0.5
        loss_affinity = affinity_loss(outputs.affinity[has_mask], foreground)
        return dict(loss_boundary=loss_boundary, loss_affinity=self.loss_affinity_weight * loss_affinity)


@MODELS.register_module()
class CPMaskRoIHead(PartialRoIHead):
    """Partially supervised Mask R-CNN RoI head with :class:`CPMaskHead`.

    Losses: the box head's, and ``loss_mask``, ``loss_boundary``, ``loss_affinity`` on the positive RoIs whose
    object ``has_mask`` (seen categories) only.
    """

    def init_mask_head(self, mask_roi_extractor: ConfigType, mask_head: ConfigType) -> None:
        super().init_mask_head(mask_roi_extractor, mask_head)
        if not isinstance(self.mask_head, CPMaskHead):
            raise ValueError(f"CPMaskRoIHead: `mask_head` must be dict(type='CPMaskHead', ...), got "
                             f'{type(self.mask_head).__name__}')

    def mask_loss(self, x: Tuple[Tensor], sampling_results: List[SamplingResult],
                  bbox_feats: Tensor, batch_gt_instances: InstanceList) -> dict:
        mask_feats = self._positive_mask_feats(x, sampling_results, bbox_feats)
        outputs = self.mask_head.forward_train(mask_feats)
        targets = mask_targets(sampling_results, batch_gt_instances, outputs.mask_logits.shape[-2:],
                               self.train_cfg)
        positives = PositiveRoIs.gather(sampling_results, batch_gt_instances)
        losses = dict(loss_mask=seen_mask_loss(self.mask_head, outputs.mask_logits, targets, positives.labels,
                                               positives.has_mask))
        losses.update(self.mask_head.auxiliary_losses(outputs, targets, positives.has_mask))
        return dict(mask_preds=outputs.mask_logits, mask_feats=mask_feats, mask_targets=targets, loss_mask=losses)
