"""Pseudo-mask post-processing r(.) (Sec. 4.2, Eq. 6) and cleaning (Sec. 5.1): tspsis.core.pseudo."""

from __future__ import annotations

import pytest
import torch

from tspsis.core import pseudo
from tspsis.core.pseudo import (CRFParams, box_mask_on_rois, clean_pseudo_masks, crf, crf_marginals, interact,
                                make_pseudo_masks, threshold, union_mask_on_rois)
from tspsis.core.testing import synthetic_roi_batch

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _mask(rows: list[str]) -> torch.Tensor:
    """(1, H, W) bool from strings of '0'/'1'."""
    return torch.tensor([[c == "1" for c in row] for row in rows]).unsqueeze(0)


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) IoU of (N, H, W) bool masks; 1 where both are empty."""
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def _disc(size: int = 28, radius: float = 8.0) -> torch.Tensor:
    """(1, S, S) bool disc centred in the grid (about a quarter of the RoI for radius 8)."""
    coords = torch.arange(size) + 0.5
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    return ((ys - size / 2) ** 2 + (xs - size / 2) ** 2 <= radius**2).unsqueeze(0)


# ------------------------------------------------------------------------------ threshold/interact
def test_threshold_is_inclusive_at_one_half():
    probs = torch.tensor([[[0.0, 0.4999, 0.5, 0.5001, 1.0]]])
    assert threshold(probs).tolist() == [[[False, False, True, True, True]]]
    assert threshold(probs, thr=0.9).tolist() == [[[False, False, False, False, True]]]


def test_interact_averages_teacher_and_student():
    teacher = torch.tensor([[[0.25, 0.4, 0.9, 0.0, 0.6]]])
    student = torch.tensor([[[0.75, 0.5, 0.0, 1.0, 0.6]]])
    # means: 0.5, 0.45, 0.45, 0.5, 0.6 -> inclusive at 0.5
    assert interact(teacher, student).tolist() == [[[True, False, False, True, True]]]


def test_interact_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="interact.*shapes differ"):
        interact(torch.rand(2, 4, 4), torch.rand(2, 4, 5))
    with pytest.raises(ValueError, match="threshold.*teacher_probs"):
        threshold(torch.rand(4, 4))


# -------------------------------------------------------------------------------------- cleaning
def test_clean_pseudo_masks_hand_drawn():
    pseudo_mask = _mask(["1110", "1110", "0111", "0011"])
    seen = _mask(["0011", "0011", "0000", "0000"])
    box = _mask(["0111", "0111", "0111", "0000"])
    expected = _mask(["0100", "0100", "0111", "0000"])
    assert torch.equal(clean_pseudo_masks(pseudo_mask, seen, box), expected)


def test_box_mask_on_rois_hand_cases():
    rois = torch.tensor([[0.0, 0.0, 4.0, 4.0], [10.0, 10.0, 18.0, 14.0]])
    gt_boxes = torch.tensor([[1.0, 0.0, 3.0, 2.0], [12.0, 12.0, 20.0, 20.0]])
    # RoI 0, 4x4 grid: centres 0.5..3.5; x in [1, 3] -> columns 1, 2; y in [0, 2] -> rows 0, 1.
    square = box_mask_on_rois(rois[:1], gt_boxes[:1], 4)
    assert torch.equal(square, _mask(["0110", "0110", "0000", "0000"]))
    # RoI 1, 2x4 grid: centres x 11, 13, 15, 17 and y 11, 13; GT box from 12 -> columns 1-3, row 1.
    wide = box_mask_on_rois(rois, gt_boxes, (2, 4))
    assert wide.shape == (2, 2, 4)
    assert torch.equal(wide[1:], _mask(["0000", "0111"]))


def test_box_mask_on_rois_bounds_are_inclusive():
    # GT box edges pass exactly through the centres 0.5 and 1.5 of a 4x4 grid on RoI (0, 0, 4, 4).
    out = box_mask_on_rois(torch.tensor([[0.0, 0.0, 4.0, 4.0]]), torch.tensor([[0.5, 0.5, 1.5, 1.5]]), 4)
    assert torch.equal(out, _mask(["1100", "1100", "0000", "0000"]))


def test_union_mask_on_rois_hand_cases():
    union = torch.zeros(2, 4, 4, dtype=torch.bool)
    union[0, :, :2] = True  # image 0: left half
    union[1, 0, 3] = True  # image 1: one pixel, row 0 column 3
    rois = torch.tensor([[0.0, 0.0, 4.0, 4.0], [2.0, 0.0, 4.0, 2.0]])
    out = union_mask_on_rois(rois, torch.tensor([0, 1]), union, 2)
    assert torch.equal(out[0:1], _mask(["10", "10"]))
    assert torch.equal(out[1:2], _mask(["01", "00"]))
    # Half-pixel cells over image 0: samples at x = 0.75, 1.25, 1.75, 2.25 in pixel-centre
    # coordinates interpolate to 1, 0.75, 0.25, 0 -> kept where >= 0.5.
    fine = union_mask_on_rois(torch.tensor([[1.0, 0.0, 3.0, 4.0]]), torch.tensor([0]), union.float(), 4)
    assert torch.equal(fine, _mask(["1100"] * 4))


def test_cleaning_helpers_accept_empty_batches():
    no_rois = torch.zeros(0, 4)
    assert box_mask_on_rois(no_rois, no_rois, 28).shape == (0, 28, 28)
    assert union_mask_on_rois(no_rois, torch.zeros(0, dtype=torch.long), torch.zeros(1, 8, 8), 28).shape == (0, 28, 28)
    empty = torch.zeros(0, 28, 28)
    assert crf(empty, torch.zeros(0, 3, 28, 28)).shape == (0, 28, 28)


def test_cleaning_helpers_reject_bad_shapes():
    with pytest.raises(ValueError, match="box_mask_on_rois.*gt_boxes"):
        box_mask_on_rois(torch.zeros(2, 4), torch.zeros(2, 5), 28)
    with pytest.raises(ValueError, match="union_mask_on_rois.*img_idx"):
        union_mask_on_rois(torch.zeros(2, 4), torch.zeros(3), torch.zeros(1, 8, 8), 28)
    with pytest.raises(ValueError, match="clean_pseudo_masks.*shapes differ"):
        clean_pseudo_masks(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4), torch.zeros(1, 3, 4))


# ------------------------------------------------------------------------------------------- CRF
@pytest.fixture(scope="module")
def rois() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return synthetic_roi_batch(24, size=28, seed=0)


def test_crf_torch_agrees_with_pydensecrf(rois):
    images, truth, probs = rois
    reference = crf(probs, images, backend="pydensecrf")
    ours = crf(probs, images, backend="torch")
    assert _iou(ours, reference).mean() >= 0.9
    # The CRF does something on these inputs: both differ from plain thresholding.
    assert not torch.equal(reference, threshold(probs))
    assert not torch.equal(ours, threshold(probs))


def test_crf_torch_agrees_with_pydensecrf_on_non_square_grid(rois):
    # Catches x/y or H/W transpositions, which a square grid would hide.
    images, _, probs = rois
    images, probs = images[..., 3:23], probs[..., 3:23]  # (N, 3, 28, 20), (N, 28, 20)
    reference = crf(probs, images, backend="pydensecrf")
    ours = crf(probs, images, backend="torch")
    assert ours.shape == (24, 28, 20)
    assert _iou(ours, reference).mean() >= 0.9


@pytest.mark.parametrize("params", [CRFParams(), CRFParams(appearance_compat=0.0)], ids=["full", "smooth-only"])
def test_crf_marginals_agree_with_pydensecrf_on_non_square_grid(rois, params):
    # densecrf's lattice approximates each Gaussian to ~10%, which moves the marginals by < 1% on
    # average; enumerating the grid cells in the wrong order (x/y, H/W mixed up) moves them by ~6%
    # with the smoothness kernel alone, whose 1-cell reach makes it the most sensitive to layout.
    images, _, probs = rois
    images, probs = images[..., 3:23], probs[..., 3:23]  # (N, 3, 28, 20), (N, 28, 20)
    reference = crf_marginals(probs, images, backend="pydensecrf", params=params)
    ours = crf_marginals(probs, images, backend="torch", params=params)
    assert ours.dtype == torch.float32 and ours.shape == (24, 28, 20)
    assert (ours - reference).abs().mean() < 0.02
    assert torch.equal(crf(probs, images, params=params), ours >= 0.5)


def test_crf_batched_equals_per_roi(rois, monkeypatch):
    images, _, probs = (t[:6] for t in rois)
    batched = crf(probs, images)
    per_roi = torch.cat([crf(probs[i : i + 1], images[i : i + 1]) for i in range(len(probs))])
    assert torch.equal(batched, per_roi)
    monkeypatch.setitem(pseudo._MAX_KERNEL_ELEMENTS, "cpu", 1)  # one RoI per chunk
    assert torch.equal(crf(probs, images), batched)


@pytest.mark.parametrize("backend", ["torch", "pydensecrf"])
def test_crf_with_uninformative_image_keeps_confident_unary(backend):
    disc = _disc()
    flat_image = torch.full((1, 3, 28, 28), 128.0)
    probs = torch.where(disc, 0.99, 0.01)
    assert torch.equal(crf(probs, flat_image, backend=backend), disc)


@pytest.mark.parametrize("backend", ["torch", "pydensecrf"])
def test_crf_removes_isolated_false_positives(backend):
    disc = _disc()
    probs = torch.where(disc, 0.999, 0.001)
    for row, col, p in [(2, 2, 0.7), (25, 3, 0.7), (5, 14, 0.8), (14, 24, 0.8)]:
        probs[0, row, col] = p
    flat_image = torch.full((1, 3, 28, 28), 128.0)
    assert (threshold(probs) ^ disc).sum() == 4
    assert torch.equal(crf(probs, flat_image, backend=backend), disc)


def test_crf_follows_colour_edges(rois):
    # The teacher half-believes the occluder; the colour edge lets the CRF cut it off.
    images, truth, probs = rois
    assert _iou(crf(probs, images), truth).mean() > _iou(threshold(probs), truth).mean()


def test_crf_rejects_bad_inputs():
    probs = torch.rand(2, 28, 28)
    with pytest.raises(ValueError, match="crf.*images"):
        crf(probs, torch.rand(2, 28, 28, 3))
    with pytest.raises(ValueError, match="crf.*backend"):
        crf(probs, torch.rand(2, 3, 28, 28), backend="lattice")
    with pytest.raises(ValueError, match="CRFParams.*appearance_sxy"):
        CRFParams(appearance_sxy=0)


@CUDA
def test_crf_torch_on_cuda_matches_cpu(rois):
    images, _, probs = rois
    on_cuda = crf(probs.cuda(), images.cuda())
    assert on_cuda.is_cuda
    assert _iou(on_cuda.cpu(), crf(probs, images)).mean() >= 0.99


# -------------------------------------------------------------------------------------- dispatch
def test_make_pseudo_masks_dispatches(rois):
    images, _, probs = (t[:4] for t in rois)
    student = torch.rand_like(probs)
    assert torch.equal(make_pseudo_masks("threshold", probs), threshold(probs))
    assert torch.equal(make_pseudo_masks("interact", probs, student_probs=student), interact(probs, student))
    assert torch.equal(make_pseudo_masks("crf", probs, images=images), crf(probs, images))
    params = CRFParams(appearance_compat=1.0)
    assert torch.equal(
        make_pseudo_masks("crf", probs, images=images, crf_params=params, crf_iterations=2),
        crf(probs, images, params=params, iterations=2),
    )


def test_make_pseudo_masks_errors():
    probs = torch.rand(2, 28, 28)
    with pytest.raises(ValueError, match="unknown `method` 'grabcut'"):
        make_pseudo_masks("grabcut", probs)
    with pytest.raises(ValueError, match="'interact' needs `student_probs`"):
        make_pseudo_masks("interact", probs)
    with pytest.raises(ValueError, match="'crf' needs `images`"):
        make_pseudo_masks("crf", probs)
