"""Inputs for the tests and benchmarks, never imported by the library: realistic synthetic RoIs for checking and timing
the CRF back-ends of :mod:`tspsis.core.pseudo` (tests/core/test_pseudo.py, benchmarks/bench_crf.py)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["synthetic_roi_batch"]


def synthetic_roi_batch(num: int, size: int = 28, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Realistic RoI inputs for checking and timing the CRF back-ends (tests, benchmarks/bench_crf.py).

    Each RoI: a textured ellipse (the object) over a textured background of another colour, partly
    hidden by a textured disc of a third colour (an occluding object). The teacher's probabilities
    are what a class-agnostic head gives: the truth, with the occluded part of the object at 0.4
    instead of 0 (the head cannot tell the occluder from the object), blurred, plus logit noise.
    Returns images (N, 3, S, S) float in [0, 255], truth (N, S, S) bool, teacher_probs (N, S, S).
    """
    gen = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand(*shape, generator=gen)

    coords = torch.arange(size, dtype=torch.float32) + 0.5
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")  # (S, S)
    centre = size / 2 + uniform(-2, 2, num, 2)
    radii = uniform(0.3 * size, 0.45 * size, num, 2)
    angle = uniform(0, math.pi, num)
    dx, dy = xs - centre[:, 0, None, None], ys - centre[:, 1, None, None]
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    obj = ((dx * cos + dy * sin) / radii[:, 0, None, None]) ** 2 + (
        (-dx * sin + dy * cos) / radii[:, 1, None, None]
    ) ** 2 <= 1

    occ_dir = uniform(0, 2 * math.pi, num)
    occ_centre = size / 2 + 0.45 * size * torch.stack([occ_dir.cos(), occ_dir.sin()], dim=1)
    occ_radius = uniform(0.2 * size, 0.35 * size, num)
    occluder = (xs - occ_centre[:, 0, None, None]) ** 2 + (ys - occ_centre[:, 1, None, None]) ** 2 <= (
        occ_radius[:, None, None] ** 2
    )
    truth = obj & ~occluder

    # Independent colours per region (sometimes alike, as in real images), plus texture noise.
    palette = uniform(20, 235, num, 3, 3)  # (N, region, RGB)
    region = truth.long() + 2 * occluder.long()  # 0 background, 1 object, 2 occluder
    images = torch.gather(palette, 1, region.reshape(num, -1, 1).expand(-1, -1, 3))
    images = images.reshape(num, size, size, 3).permute(0, 3, 1, 2)
    images = (images + 20 * torch.randn(images.shape, generator=gen)).clamp(0, 255)

    belief = truth.float() + 0.4 * (occluder & obj).float()
    kernel_1d = torch.exp(-0.5 * (torch.arange(-3, 4, dtype=torch.float32) / 1.5) ** 2)
    kernel_1d /= kernel_1d.sum()
    blurred = torch.nn.functional.conv2d(
        belief.unsqueeze(1), (kernel_1d[:, None] * kernel_1d[None, :])[None, None], padding=3
    ).squeeze(1)
    logits = 8 * (blurred - 0.5) + 1.0 * torch.randn(blurred.shape, generator=gen)
    return images, truth, torch.sigmoid(logits)
