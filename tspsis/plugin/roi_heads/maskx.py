"""MaskX R-CNN (Hu et al. 2018, "Learning to Segment Every Thing"; Table 1, "MaskX R-CNN").

A weight-transfer function T maps each class's detection weights w_det^c (from the box head) to that
class's mask weights w_seg^c = T(w_det^c); the class-specific mask head's last 1x1 convolution uses
the generated weights. T is trained with the masks of the seen categories only, and because every
class's w_det exists, it predicts mask weights — hence masks — for the unseen categories too.

The configuration follows the paper's final model (and its Detectron code, ronghanghu/seg_every_thing):

* w_det^c = [W_cls^c, W_reg^c] ('cls+box'): the classifier row of class c (D_box) concatenated with its
  4 box-regression rows (4 D_box), so 5 D_box values (5120 for the 1024-d box head of R50-FPN);
* T: 2-layer MLP, LeakyReLU(0.1) between the layers, hidden width = output width = D (mask features);
* the generated weights have no bias term (as in Detectron);
* stop-gradient on w_det: the mask loss trains T (and the mask head, backbone) but never moves the
  box head's weights;
* 'transfer + MLP': a class-agnostic fully connected mask branch on the upsampled mask features
  (D x 28 x 28 -> 28 x 28) is added to every class's logits (``class_agnostic_mlp``).
"""

from __future__ import annotations

from typing import List, Tuple

import torch
from torch import Tensor, nn

from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.registry import MODELS
from mmdet.utils import OptConfigType

from tspsis.plugin.roi_heads.partial_roi_head import PartialRoIHead

__all__ = ['DEFAULT_WEIGHT_TRANSFER', 'DETECTION_WEIGHT_INPUTS', 'MaskXMaskHead', 'MaskXRoIHead',
           'WeightTransfer']

DETECTION_WEIGHT_INPUTS = ('cls', 'box', 'cls+box')
DEFAULT_WEIGHT_TRANSFER = dict(type='WeightTransfer', hidden_channels=256, num_layers=2,
                               negative_slope=0.1)


@MODELS.register_module()
class WeightTransfer(nn.Module):
    """T: (C, K) detection weights -> (C, D) mask weights, one MLP applied to every class.

    Args:
        in_channels: K, the length of w_det^c (set by :class:`MaskXRoIHead` from the box head).
        out_channels: D, the mask head's feature width (set by :class:`MaskXRoIHead`).
        hidden_channels: width of the hidden layers (Hu et al.: D).
        num_layers: number of linear layers (the paper's best: 2).
        negative_slope: slope of the LeakyReLU between layers (0.1 in Hu et al.).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 256,
                 num_layers: int = 2, negative_slope: float = 0.1) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'WeightTransfer: `num_layers` must be >= 1, got {num_layers}')
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        layers: List[nn.Module] = []
        for i, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:])):
            if i > 0:
                layers.append(nn.LeakyReLU(negative_slope))
            linear = nn.Linear(width_in, width_out)
            # Detectron's MSRAFill and zero bias
            nn.init.kaiming_normal_(linear.weight, a=negative_slope, nonlinearity='leaky_relu')
            nn.init.zeros_(linear.bias)
            layers.append(linear)
        self.mlp = nn.Sequential(*layers)

    def forward(self, det_weights: Tensor) -> Tensor:
        """w_seg = T(w_det): (C, K) -> (C, D)."""
        return self.mlp(det_weights)


@MODELS.register_module()
class MaskXMaskHead(FCNMaskHead):
    """Class-specific ``FCNMaskHead`` whose last 1x1 convolution takes generated weights.

    ``forward(x, class_weights)``: x (N, C_in, 14, 14) mask RoI features, class_weights (C, D) = w_seg
    -> logits (N, C, 28, 28) = conv1x1(features, w_seg) (no bias) [+ the class-agnostic MLP branch,
    broadcast to every class]. Other arguments as ``FCNMaskHead`` (``class_agnostic`` must stay False).

    Args:
        class_agnostic_mlp: add the class-agnostic fully connected branch (Hu et al.'s 'transfer + MLP').
    """

    def __init__(self, *args, class_agnostic_mlp: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.class_agnostic:
            raise ValueError('MaskXMaskHead: `class_agnostic` must be False (one generated weight '
                             'vector per class)')
        if self.upsample_method not in (None, 'deconv'):
            raise ValueError("MaskXMaskHead: `upsample_cfg.type` must be 'deconv' or None")
        self.conv_logits = nn.Identity()  # FCNMaskHead.forward then returns the mask features
        self.mlp_branch = None
        if class_agnostic_mlp:
            side = self.roi_feat_size[0] * (self.scale_factor or 1)
            self.mlp_branch = nn.Linear(self.conv_out_channels * side * side, side * side)
            nn.init.normal_(self.mlp_branch.weight, std=0.001)  # Detectron's GaussianFill(0.001)
            nn.init.zeros_(self.mlp_branch.bias)

    def forward(self, x: Tensor, class_weights: Tensor) -> Tensor:
        feats = super().forward(x)  # (N, D, h, w)
        if class_weights.shape != (self.num_classes, feats.shape[1]):
            raise ValueError(f'MaskXMaskHead: `class_weights` must be (C, D) = '
                             f'({self.num_classes}, {feats.shape[1]}), got {tuple(class_weights.shape)}')
        logits = torch.einsum('ndhw,cd->nchw', feats, class_weights.to(feats.dtype))
        if self.mlp_branch is not None:
            logits = logits + self.mlp_branch(feats.flatten(1)).view(-1, 1, *feats.shape[-2:])
        return logits


@MODELS.register_module()
class MaskXRoIHead(PartialRoIHead):
    """MaskX R-CNN: ``PartialRoIHead`` (mask loss on seen objects only) whose class-specific
    :class:`MaskXMaskHead` gets its class weights from the box head through T.

    Args:
        det_weights: w_det^c: ``'cls'`` (classifier row), ``'box'`` (the class's 4 regression rows) or
            ``'cls+box'`` (both, the paper's choice). Needs a class-specific linear box regressor
            for ``'box'``/``'cls+box'``.
        stop_det_grad: detach w_det, so the mask loss does not move the box head (Hu et al.'s choice).
        weight_transfer: T's config (default :data:`DEFAULT_WEIGHT_TRANSFER`, Hu et al.'s 2-layer
            LeakyReLU MLP); its in/out widths are filled in here.
        Other arguments as ``StandardRoIHead``.
    """

    def __init__(self, *args, det_weights: str = 'cls+box', stop_det_grad: bool = True,
                 weight_transfer: OptConfigType = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if det_weights not in DETECTION_WEIGHT_INPUTS:
            raise ValueError(f'MaskXRoIHead: unknown `det_weights` {det_weights!r}; expected one of '
                             f'{DETECTION_WEIGHT_INPUTS}')
        if not isinstance(self.mask_head, MaskXMaskHead):
            raise ValueError("MaskXRoIHead: `mask_head.type` must be 'MaskXMaskHead'")
        if self.with_shared_head:
            raise ValueError('MaskXRoIHead: `shared_head` is not supported')
        for layer in ('fc_cls', 'fc_reg'):
            if type(getattr(self.bbox_head, layer, None)) is not nn.Linear:
                raise ValueError(f'MaskXRoIHead: the box head needs a linear `{layer}` (w_det)')
        if det_weights != 'cls' and self.bbox_head.reg_class_agnostic:
            raise ValueError(f"MaskXRoIHead: `det_weights` {det_weights!r} needs per-class box "
                             'regression weights: set `bbox_head.reg_class_agnostic=False`')
        self.det_weights = det_weights
        self.stop_det_grad = stop_det_grad
        self.weight_transfer = MODELS.build(
            weight_transfer or DEFAULT_WEIGHT_TRANSFER,
            default_args=dict(in_channels=self.detection_weights().shape[1],
                              out_channels=self.mask_head.conv_out_channels))

    def detection_weights(self) -> Tensor:
        """w_det: (C, K), one row per object class (background excluded), detached if stop_det_grad."""
        num = self.bbox_head.num_classes
        parts = []
        if 'cls' in self.det_weights:
            parts.append(self.bbox_head.fc_cls.weight[:num])  # (C, D_box)
        if 'box' in self.det_weights:
            parts.append(self.bbox_head.fc_reg.weight.reshape(num, -1))  # (C, 4 D_box), class-major
        weights = torch.cat(parts, dim=1)
        return weights.detach() if self.stop_det_grad else weights

    def segmentation_weights(self) -> Tensor:
        """w_seg^c = T(w_det^c) for every class: (C, D)."""
        return self.weight_transfer(self.detection_weights())

    def _mask_logits(self, mask_feats: Tensor) -> Tensor:
        """``PartialRoIHead``'s mask loss (seen objects only) runs the head with the generated class weights."""
        return self.mask_head(mask_feats, self.segmentation_weights())

    def _mask_forward(self, x: Tuple[Tensor], rois: Tensor) -> dict:
        """Mask logits (n, C, 28, 28) of rois (n, 5) with the generated weights (test time)."""
        mask_feats = self.mask_roi_extractor(x[:self.mask_roi_extractor.num_inputs], rois)
        mask_preds = self.mask_head(mask_feats, self.segmentation_weights())
        return dict(mask_preds=mask_preds, mask_feats=mask_feats)
