"""Class-activation maps from the box head's classifier (paper Sec. 5.1, Eq. 8-9; OPMask).

The box head's last convolutional features F (N, D, H, W) (7x7x256 in the paper) are classified
after global average pooling (Eq. 8):

    p_cls = GAP(F) . W_cls + b_cls

Applying the same classifier at every position before pooling gives the CAM (Eq. 9):

    cam_ij = F_ij . W_cls + b_cls

Because GAP and the classifier are both linear, they commute: mean_ij cam_ij = p_cls exactly, so the
CAM is a spatial decomposition of the classification logits.

`cls_weight` follows ``torch.nn.Linear``: (C, D), i.e. W_cls of the paper transposed.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["cam_for_labels", "class_activation_map", "gap_logits", "normalize_cam"]


def _check_classifier(fn: str, features: Tensor, cls_weight: Tensor, cls_bias: Tensor) -> None:
    if features.dim() != 4:
        raise ValueError(f"tspsis.core.cam.{fn}: `features` must be (N, D, H, W), got shape {tuple(features.shape)}")
    if cls_weight.dim() != 2 or cls_weight.shape[1] != features.shape[1]:
        raise ValueError(
            f"tspsis.core.cam.{fn}: `cls_weight` must be (C, D) with D = {features.shape[1]}, "
            f"got shape {tuple(cls_weight.shape)}"
        )
    if cls_bias.shape != (cls_weight.shape[0],):
        raise ValueError(
            f"tspsis.core.cam.{fn}: `cls_bias` must be (C,) = ({cls_weight.shape[0]},), got shape {tuple(cls_bias.shape)}"
        )


def gap_logits(features: Tensor, cls_weight: Tensor, cls_bias: Tensor) -> Tensor:
    """Eq. 8: p_cls = GAP(F) . W_cls + b_cls.

    features: (N, D, H, W); cls_weight: (C, D); cls_bias: (C,). Returns (N, C) logits.
    """
    _check_classifier("gap_logits", features, cls_weight, cls_bias)
    return features.mean(dim=(2, 3)) @ cls_weight.t() + cls_bias


def class_activation_map(features: Tensor, cls_weight: Tensor, cls_bias: Tensor) -> Tensor:
    """Eq. 9: cam_ij = F_ij . W_cls + b_cls for every class.

    features: (N, D, H, W); cls_weight: (C, D); cls_bias: (C,). Returns (N, C, H, W), whose spatial
    mean equals `gap_logits` (GAP commutes with the linear classifier).
    """
    _check_classifier("class_activation_map", features, cls_weight, cls_bias)
    return torch.einsum("ndhw,cd->nchw", features, cls_weight) + cls_bias[None, :, None, None]


def cam_for_labels(features: Tensor, cls_weight: Tensor, cls_bias: Tensor, labels: Tensor) -> Tensor:
    """Eq. 9 for one class per RoI: the CAM channel of each RoI's label.

    features: (N, D, H, W); cls_weight: (C, D); cls_bias: (C,); labels: (N,) int in [0, C).
    Returns (N, 1, H, W), equal to ``class_activation_map(...)[arange(N), labels][:, None]``
    without computing the other C - 1 maps.
    """
    _check_classifier("cam_for_labels", features, cls_weight, cls_bias)
    if labels.shape != (features.shape[0],):
        raise ValueError(
            f"tspsis.core.cam.cam_for_labels: `labels` must be (N,) = ({features.shape[0]},), "
            f"got shape {tuple(labels.shape)}"
        )
    labels = labels.long()
    cam = torch.einsum("ndhw,nd->nhw", features, cls_weight[labels]) + cls_bias[labels][:, None, None]
    return cam.unsqueeze(1)


def normalize_cam(cam: Tensor, eps: float = 1e-12) -> Tensor:
    """Min-max normalise each map to [0, 1] for visualisation.

    cam: (..., H, W). Each (H, W) map is shifted and scaled independently; a constant map becomes 0.
    Returns the same shape.
    """
    if cam.dim() < 2:
        raise ValueError(f"tspsis.core.cam.normalize_cam: `cam` must be (..., H, W), got shape {tuple(cam.shape)}")
    flat = cam.flatten(-2)
    low = flat.min(dim=-1, keepdim=True).values
    span = flat.max(dim=-1, keepdim=True).values - low
    normalized = (flat - low) / span.clamp_min(eps)
    return normalized.reshape(cam.shape)
