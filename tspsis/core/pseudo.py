"""Post-processing r(.) of the teacher's mask probabilities into pseudo masks (paper Sec. 4.2, Eq. 6).

The student mask head of an unseen-category object is supervised with r(Mt), where Mt are the
class-agnostic teacher's mask probabilities on the RoI grid (Eq. 4, 6). The paper compares three r
(Sec. 4.2, Table 5):

1. ``threshold``: r(Mt) = Mt >= 0.5;
2. ``crf``:       r(Mt) = CRF(Mt) >= 0.5 (dense CRF over the RoI-aligned image crop);
3. ``interact``:  r(Mt) = (Mt + Ms) / 2 >= 0.5, Ms the student's probability in the object's class.

Pseudo masks are then cleaned (Sec. 5.1, "Partially supervised training details"): pixels inside any
seen-category ground-truth mask and pixels outside the object's ground-truth box are background.

Everything here is batched over RoIs and runs on CPU and CUDA tensors alike; only the pydensecrf
reference back-end of the CRF loops over RoIs (on the CPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.ops import roi_align

__all__ = [
    "CRFParams",
    "PSEUDO_MASK_METHODS",
    "box_mask_on_rois",
    "clean_pseudo_masks",
    "crf",
    "crf_marginals",
    "interact",
    "make_pseudo_masks",
    "threshold",
    "union_mask_on_rois",
]

PSEUDO_MASK_METHODS = ("threshold", "interact", "crf")
CRF_BACKENDS = ("torch", "pydensecrf")

# Same clipping as pydensecrf.utils.unary_from_softmax: unary = -log(max(p, 1e-5)).
_UNARY_CLIP = 1e-5
# Smallest kernel exponent kept (see `_gaussian_kernel`).
_MIN_EXPONENT = -50.0
# Entries of the (chunk, P, P) CRF operator held at once. CPU: 8 MiB of float32 (3 RoIs of 28x28),
# a working set that stays in the last-level cache; CUDA: 256 MiB (109 RoIs), few launches per step.
_MAX_KERNEL_ELEMENTS = {"cpu": 1 << 21, "cuda": 1 << 26}


def _size_pair(size: int | tuple[int, int], fn: str) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if height <= 0 or width <= 0:
        raise ValueError(f"tspsis.core.pseudo.{fn}: `size` must be positive, got {size!r}")
    return int(height), int(width)


def _check_masks(fn: str, **tensors: Tensor) -> None:
    """Every tensor is (N, H, W) and all share one shape."""
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    for name, shape in shapes.items():
        if len(shape) != 3:
            raise ValueError(f"tspsis.core.pseudo.{fn}: `{name}` must be (N, H, W), got shape {shape}")
    if len(set(shapes.values())) > 1:
        raise ValueError(f"tspsis.core.pseudo.{fn}: shapes differ: {shapes}")


def _check_boxes(fn: str, name: str, boxes: Tensor) -> None:
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"tspsis.core.pseudo.{fn}: `{name}` must be (N, 4) xyxy, got shape {tuple(boxes.shape)}")


# --------------------------------------------------------------------------------------------- r(.)
def threshold(teacher_probs: Tensor, thr: float = 0.5) -> Tensor:
    """r(Mt) = Mt >= thr (Sec. 4.2, item 1; inclusive at the threshold).

    teacher_probs: (N, H, W) probabilities in [0, 1]. Returns (N, H, W) bool.
    """
    _check_masks("threshold", teacher_probs=teacher_probs)
    return teacher_probs.detach() >= thr


def interact(teacher_probs: Tensor, student_probs: Tensor, thr: float = 0.5) -> Tensor:
    """r(Mt) = (Mt + Ms) / 2 >= thr (Sec. 4.2, item 3).

    teacher_probs: (N, H, W) class-agnostic teacher probabilities Mt.
    student_probs: (N, H, W) student probabilities Ms in each object's own class channel.
    Returns (N, H, W) bool.
    """
    _check_masks("interact", teacher_probs=teacher_probs, student_probs=student_probs)
    return (teacher_probs.detach() + student_probs.detach()) / 2 >= thr


@dataclass(frozen=True)
class CRFParams:
    """Dense-CRF parameters, in RoI-grid cells (positions) and 0..255 RGB units (colours).

    Pairwise energy (Krähenbühl & Koltun 2011) with Potts compatibility:
      appearance (bilateral): appearance_compat * exp(-|p_i-p_j|^2 / 2 appearance_sxy^2
                                                      - |I_i-I_j|^2 / 2 appearance_srgb^2)
      smoothness (Gaussian):  smooth_compat * exp(-|p_i-p_j|^2 / 2 smooth_sxy^2)

    Defaults: the usual full-image settings (pydensecrf's bilateral sxy=80 px, srgb=13, compat=10;
    Gaussian sxy=3 px, compat=3) rescaled to the 28x28 RoI grid. A 28-cell RoI spans a typical COCO
    object of ~100-300 px, i.e. one cell is ~4-10 px: 80 px becomes ~10 cells (a third of the RoI,
    the same relative reach) and 3 px falls below one cell, so the smoothness kernel takes the
    smallest meaningful width, 1 cell. Colours are not rescaled: the crop keeps the image's RGB
    range. The bilateral weight is halved to 5: with symmetric normalisation a Potts weight w moves
    a cell's logit by up to +-w, and on a textureless crop w=10 erodes a third of an object that
    covers a quarter of the RoI even where the teacher is 99% sure; w=5 keeps it intact
    (tests/core/test_pseudo.py::test_crf_with_uninformative_image_keeps_confident_unary).
    """

    appearance_sxy: float = 10.0
    appearance_srgb: float = 13.0
    appearance_compat: float = 5.0
    smooth_sxy: float = 1.0
    smooth_compat: float = 3.0

    def __post_init__(self) -> None:
        for name in ("appearance_sxy", "appearance_srgb", "smooth_sxy"):
            if not getattr(self, name) > 0:
                raise ValueError(f"tspsis.core.pseudo.CRFParams: `{name}` must be > 0, got {getattr(self, name)!r}")


@torch.no_grad()
def crf_marginals(
    teacher_probs: Tensor,
    images: Tensor,
    *,
    backend: str = "torch",
    iterations: int = 5,
    params: CRFParams = CRFParams(),
) -> Tensor:
    """Foreground marginals Q_fg of a 2-label (bg/fg) dense CRF on the RoI grid (mean field).

    teacher_probs: (N, H, W) teacher foreground probabilities Mt; unary_l = -log(max(p_l, 1e-5))
        with p_fg = Mt, p_bg = 1 - Mt (as ``pydensecrf.utils.unary_from_softmax``).
    images: (N, 3, H, W) float RGB in [0, 255], the image RoI-aligned onto the same grid.
    backend: ``"torch"`` (batched exact mean field, any device) or ``"pydensecrf"`` (the CPU
        reference: permutohedral-lattice mean field, one RoI at a time).
    iterations: mean-field iterations. Returns (N, H, W) float32 in [0, 1], on the input's device.
    """
    _check_masks("crf_marginals", teacher_probs=teacher_probs)
    n, height, width = teacher_probs.shape
    if images.shape != (n, 3, height, width):
        raise ValueError(
            f"tspsis.core.pseudo.crf_marginals: `images` must be (N, 3, H, W) = {(n, 3, height, width)} to match "
            f"`teacher_probs`, got shape {tuple(images.shape)}"
        )
    if iterations < 0:
        raise ValueError(f"tspsis.core.pseudo.crf_marginals: `iterations` must be >= 0, got {iterations}")
    if backend == "torch":
        return _crf_marginals_torch(teacher_probs, images, iterations, params)
    if backend == "pydensecrf":
        return _crf_marginals_pydensecrf(teacher_probs, images, iterations, params)
    raise ValueError(f"tspsis.core.pseudo.crf_marginals: unknown `backend` {backend!r}; expected one of {CRF_BACKENDS}")


def crf(
    teacher_probs: Tensor,
    images: Tensor,
    *,
    backend: str = "torch",
    iterations: int = 5,
    params: CRFParams = CRFParams(),
    thr: float = 0.5,
) -> Tensor:
    """r(Mt) = CRF(Mt) >= thr (Sec. 4.2, item 2): `crf_marginals` thresholded (inclusive).

    teacher_probs: (N, H, W); images: (N, 3, H, W) float RGB in [0, 255]. Returns (N, H, W) bool.
    """
    return crf_marginals(teacher_probs, images, backend=backend, iterations=iterations, params=params) >= thr


def _grid_positions(height: int, width: int, device: torch.device) -> Tensor:
    """(P, 2) cell coordinates (x, y), centred on the grid, row-major like densecrf's index j * W + i.

    Centring leaves every distance unchanged and keeps |f|^2 small in `_augmented_features`.
    """
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    positions = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
    return positions - positions.mean(dim=0)


def _crf_marginals_torch(probs: Tensor, images: Tensor, iterations: int, params: CRFParams) -> Tensor:
    """Exact dense-CRF mean field, batched over RoIs. Returns (N, H, W) Q_fg (float32).

    With P = H*W = 784 cells the (P, P) kernels fit in memory, so each message is an exact
    (B, P, P) operator product rather than densecrf's permutohedral-lattice approximation of it.
    Matched with densecrf (densecrf.cpp, pairwise.cpp, labelcompatibility.cpp):
      * Q_0 = softmax(-unary); each step Q = softmax(-unary - sum_k pairwise_k(Q));
      * Potts pairwise_k(Q)_l = -w_k (D_k K_k D_k Q)_l with D_k = diag(1 / sqrt(K_k 1))
        (NORMALIZE_SYMMETRIC, the pydensecrf default), one D_k per pairwise term;
      * features: cell index / sxy and RGB / srgb; kernel K_ij = exp(-|f_i - f_j|^2 / 2).
    Difference: densecrf's lattice also adds each cell's own value (a self term of ~0.9 instead of
    0); here K_ii = 0, the textbook mean field over j != i.
    With 2 labels the softmax reduces to a sigmoid of the label difference:
      a = (log p_fg - log p_bg) + sum_k w_k D_k K_k D_k (2 Q_fg - 1),  Q_fg = sigmoid(a).
    RoIs are processed in chunks of at most `_MAX_KERNEL_ELEMENTS` kernel entries.
    """
    n, height, width = probs.shape
    p_count = height * width
    device = probs.device
    probs = probs.float().reshape(n, p_count)
    unary_logit = probs.clamp_min(_UNARY_CLIP).log() - (1 - probs).clamp_min(_UNARY_CLIP).log()

    positions = _grid_positions(height, width, device)
    smooth = _gaussian_kernel(_augmented_features((positions / params.smooth_sxy).unsqueeze(0)))[0]
    smooth = _normalize_symmetric(smooth, params.smooth_compat)  # (P, P), shared by all RoIs

    colours = images.float().reshape(n, 3, p_count).transpose(1, 2)
    colours = colours - colours.mean(dim=1, keepdim=True)  # centring keeps the float32 exponent precise
    features = torch.cat(
        [(positions / params.appearance_sxy).expand(n, -1, -1), colours / params.appearance_srgb], dim=2
    )  # (N, P, 5)
    marginals = torch.empty_like(unary_logit)
    chunk = max(1, _MAX_KERNEL_ELEMENTS["cuda" if probs.is_cuda else "cpu"] // (p_count * p_count))
    for start in range(0, n, chunk):
        appearance = _gaussian_kernel(_augmented_features(features[start : start + chunk]))
        # One symmetric (B, P, P) operator w_a D_a K_a D_a + w_s D_s K_s D_s for both pairwise terms.
        pairwise = _normalize_symmetric(appearance, params.appearance_compat).add_(smooth)
        u = unary_logit[start : start + chunk]
        q = torch.sigmoid(u)
        for _ in range(iterations):
            signed = (2 * q - 1).unsqueeze(1)  # (B, 1, P): Q_fg - Q_bg
            # The operator is symmetric, so its product with a vector is taken as v^T M: CPU bmm
            # is far faster for (B, 1, P) x (B, P, P) than for (B, P, P) x (B, P, 1).
            q = torch.sigmoid(u + torch.bmm(signed, pairwise).squeeze(1))
        marginals[start : start + chunk] = q
    return marginals.reshape(n, height, width)


def _augmented_features(features: Tensor) -> tuple[Tensor, Tensor]:
    """Split -|f_i - f_j|^2 / 2 = f_i.f_j - |f_i|^2/2 - |f_j|^2/2 into one batched product.

    features: (B, P, F). Returns left (B, P, F+2) = [f, -|f|^2/2, 1] and right (B, F+2, P) =
    [f, 1, -|f|^2/2]^T, so left @ right is the (B, P, P) exponent.
    """
    half_sq = -0.5 * features.square().sum(-1, keepdim=True)
    ones = torch.ones_like(half_sq)
    return torch.cat([features, half_sq, ones], dim=2), torch.cat([features, ones, half_sq], dim=2).transpose(1, 2)


def _normalize_symmetric(kernel: Tensor, weight: float) -> Tensor:
    """weight * D K D with D = diag(1 / sqrt(K 1)), in place: densecrf's NORMALIZE_SYMMETRIC.

    kernel: (..., P, P). densecrf computes norm = 1 / sqrt(K 1 + 1e-20) once per pairwise term and
    filters Q as norm * (K (norm * Q)) (pairwise.cpp, DenseKernel::initLattice and ::filter); the
    Potts weight w is folded into the row scaling.
    """
    norm = torch.rsqrt(kernel.sum(-1) + 1e-20)
    return kernel.mul_((weight * norm).unsqueeze(-1)).mul_(norm.unsqueeze(-2))


def _gaussian_kernel(augmented: tuple[Tensor, Tensor]) -> Tensor:
    """(B, P, P) K_ij = exp(-|f_i - f_j|^2 / 2), K_ii = 0, from `_augmented_features`.

    The exponent is clamped at `_MIN_EXPONENT`: entries below exp(-50) ~ 2e-22 vanish next to the
    O(1) row sums in float32 anyway, and exp into the subnormal range is ~10x slower on CPU. On CUDA
    the product runs in float64: a TF32 matmul (if the caller enabled it) would leave errors of
    ~0.1 in exponents formed as differences of |f|^2 terms of ~100.
    """
    left, right = augmented
    if left.is_cuda:
        exponent = torch.bmm(left.double(), right.double()).clamp_(_MIN_EXPONENT, 0).float()
    else:
        exponent = torch.bmm(left, right).clamp_(_MIN_EXPONENT, 0)  # clamp at 0: float32 rounding
    kernel = exponent.exp_()
    kernel.diagonal(dim1=-2, dim2=-1).zero_()
    return kernel


def _crf_marginals_pydensecrf(probs: Tensor, images: Tensor, iterations: int, params: CRFParams) -> Tensor:
    """Reference: pydensecrf (densecrf, permutohedral lattice), one RoI at a time on the CPU.

    Returns (N, H, W) Q_fg (float32) on the input's device. Images are rounded to uint8 as
    ``addPairwiseBilateral`` requires.
    """
    import numpy as np
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    n, height, width = probs.shape
    probs_np = probs.detach().float().cpu().numpy()
    images_np = images.detach().float().round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    marginals = np.empty((n, height, width), dtype=np.float32)
    for i in range(n):
        model = dcrf.DenseCRF2D(width, height, 2)
        model.setUnaryEnergy(unary_from_softmax(np.stack([1 - probs_np[i], probs_np[i]]), clip=_UNARY_CLIP))
        model.addPairwiseGaussian(sxy=params.smooth_sxy, compat=params.smooth_compat)
        model.addPairwiseBilateral(
            sxy=params.appearance_sxy,
            srgb=params.appearance_srgb,
            rgbim=np.ascontiguousarray(images_np[i]),
            compat=params.appearance_compat,
        )
        marginals[i] = np.asarray(model.inference(iterations))[1].reshape(height, width)
    return torch.from_numpy(marginals).to(probs.device)


# ---------------------------------------------------------------------------------------- cleaning
def clean_pseudo_masks(pseudo: Tensor, seen_gt_masks_in_roi: Tensor, box_in_roi: Tensor) -> Tensor:
    """Pseudo-mask cleaning (Sec. 5.1): seen-category mask pixels and pixels outside the box are bg.

    pseudo: (N, H, W) bool r(Mt). seen_gt_masks_in_roi: (N, H, W) bool, union of the image's
    seen-category ground-truth masks on each RoI grid (`union_mask_on_rois`). box_in_roi: (N, H, W)
    bool, cells inside the object's ground-truth box (`box_mask_on_rois`). Returns (N, H, W) bool.
    """
    _check_masks(
        "clean_pseudo_masks", pseudo=pseudo, seen_gt_masks_in_roi=seen_gt_masks_in_roi, box_in_roi=box_in_roi
    )
    return pseudo.bool() & box_in_roi.bool() & ~seen_gt_masks_in_roi.bool()


def box_mask_on_rois(rois: Tensor, gt_boxes: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Which RoI grid cell centres fall inside each object's ground-truth box (bounds inclusive).

    rois: (N, 4) xyxy image coordinates of the RoIs; gt_boxes: (N, 4) xyxy of each RoI's object.
    size: H or (H, W) of the grid. Cell (r, c) has centre (x1 + (c + 0.5) w / W, y1 + (r + 0.5) h / H),
    the point roi_align(aligned=True) samples for that cell. Returns (N, H, W) bool.
    """
    _check_boxes("box_mask_on_rois", "rois", rois)
    _check_boxes("box_mask_on_rois", "gt_boxes", gt_boxes)
    if rois.shape[0] != gt_boxes.shape[0]:
        raise ValueError(
            f"tspsis.core.pseudo.box_mask_on_rois: `rois` ({rois.shape[0]}) and `gt_boxes` ({gt_boxes.shape[0]}) "
            "must have one row per RoI"
        )
    height, width = _size_pair(size, "box_mask_on_rois")
    rois, gt_boxes = rois.float(), gt_boxes.float()
    frac_x = (torch.arange(width, device=rois.device, dtype=torch.float32) + 0.5) / width
    frac_y = (torch.arange(height, device=rois.device, dtype=torch.float32) + 0.5) / height
    centre_x = rois[:, 0:1] + frac_x * (rois[:, 2:3] - rois[:, 0:1])  # (N, W)
    centre_y = rois[:, 1:2] + frac_y * (rois[:, 3:4] - rois[:, 1:2])  # (N, H)
    inside_x = (centre_x >= gt_boxes[:, 0:1]) & (centre_x <= gt_boxes[:, 2:3])
    inside_y = (centre_y >= gt_boxes[:, 1:2]) & (centre_y <= gt_boxes[:, 3:4])
    return inside_y.unsqueeze(2) & inside_x.unsqueeze(1)


def union_mask_on_rois(
    rois: Tensor, img_idx: Tensor, seen_union_masks: Tensor, size: int | tuple[int, int]
) -> Tensor:
    """The union of an image's seen-category GT masks, RoI-aligned onto each RoI grid.

    rois: (N, 4) xyxy image coordinates; img_idx: (N,) index of each RoI's image in the batch;
    seen_union_masks: (B, Hi, Wi) bool/float, per image the union of its seen-category masks.
    size: H or (H, W). Uses roi_align(aligned=True) then >= 0.5, as mmdet crops mask targets
    (BitmapMasks.crop_and_resize). Returns (N, H, W) bool.
    """
    _check_boxes("union_mask_on_rois", "rois", rois)
    if img_idx.shape != (rois.shape[0],):
        raise ValueError(
            f"tspsis.core.pseudo.union_mask_on_rois: `img_idx` must be ({rois.shape[0]},), got {tuple(img_idx.shape)}"
        )
    if seen_union_masks.dim() != 3:
        raise ValueError(
            "tspsis.core.pseudo.union_mask_on_rois: `seen_union_masks` must be (B, Hi, Wi), "
            f"got shape {tuple(seen_union_masks.shape)}"
        )
    height, width = _size_pair(size, "union_mask_on_rois")
    union = seen_union_masks.float().unsqueeze(1)
    boxes = torch.cat([img_idx.to(union).unsqueeze(1), rois.to(union)], dim=1)
    aligned = roi_align(union, boxes, (height, width), spatial_scale=1.0, sampling_ratio=0, aligned=True)
    return aligned.squeeze(1) >= 0.5


# ---------------------------------------------------------------------------------------- dispatch
def make_pseudo_masks(
    method: str,
    teacher_probs: Tensor,
    *,
    student_probs: Tensor | None = None,
    images: Tensor | None = None,
    crf_backend: str = "torch",
    crf_params: CRFParams = CRFParams(),
    crf_iterations: int = 5,
    thr: float = 0.5,
) -> Tensor:
    """r(Mt) by name (Eq. 6): ``"threshold"``, ``"interact"`` (needs student_probs) or ``"crf"``
    (needs images). Shapes as in `threshold`, `interact`, `crf`. Returns (N, H, W) bool.
    """
    if method == "threshold":
        return threshold(teacher_probs, thr)
    if method == "interact":
        if student_probs is None:
            raise ValueError("tspsis.core.pseudo.make_pseudo_masks: method 'interact' needs `student_probs`")
        return interact(teacher_probs, student_probs, thr)
    if method == "crf":
        if images is None:
            raise ValueError("tspsis.core.pseudo.make_pseudo_masks: method 'crf' needs `images`")
        return crf(teacher_probs, images, backend=crf_backend, iterations=crf_iterations, params=crf_params, thr=thr)
    raise ValueError(
        f"tspsis.core.pseudo.make_pseudo_masks: unknown `method` {method!r}; expected one of {PSEUDO_MASK_METHODS}"
    )
