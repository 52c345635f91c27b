"""The one palette of every figure and overlay (notebook figures, ``tspsis predict``'s overlays).

Instances: hues the synthetic appearances do not use first (they use reds, blues, greens and purples), so masks
stand out; instance k gets colour k (cycling). False-positive attribution (Fig. 3): background grey, seen blue,
unseen orange.
"""
from __future__ import annotations

import numpy as np

__all__ = ["FP_COLOURS", "INSTANCE_COLOURS", "instance_colour", "instance_colour_bgr"]

INSTANCE_COLOURS: tuple[tuple[int, int, int], ...] = (  # RGB, 0..255
    (255, 225, 25), (70, 240, 240), (255, 255, 255), (245, 130, 48), (210, 245, 60),
    (250, 190, 212), (0, 0, 0), (170, 110, 40), (128, 128, 0), (255, 215, 180))
_INSTANCE_RGB = np.array(INSTANCE_COLOURS, dtype=np.float64) / 255
FP_COLOURS: dict[str, str] = {"background": "0.75", "seen": "tab:blue", "unseen": "tab:orange"}  # matplotlib


def instance_colour(index: int) -> np.ndarray:
    """RGB in [0, 1] (3,) float64 of instance ``index`` (matplotlib)."""
    return _INSTANCE_RGB[index % len(_INSTANCE_RGB)]


def instance_colour_bgr(index: int) -> tuple[int, int, int]:
    """BGR 0..255 of instance ``index`` (OpenCV)."""
    r, g, b = INSTANCE_COLOURS[index % len(INSTANCE_COLOURS)]
    return b, g, r
