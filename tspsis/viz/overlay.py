"""``tspsis predict``'s overlays: each instance's mask (coloured, outlined), box and "name score" label drawn on the
image with OpenCV, in the colours of :mod:`tspsis.viz.palette`."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tspsis.viz.palette import instance_colour_bgr

__all__ = ["draw_overlay"]


def draw_overlay(img: np.ndarray, instances: Sequence[dict], min_side: int = 512) -> np.ndarray:
    """BGR image with each instance's mask (coloured, outlined), box and "name score" label. Images smaller
    than ``min_side`` px are enlarged (nearest neighbour) so that labels stay readable."""
    import cv2
    from pycocotools import mask as mask_util

    height, width = img.shape[:2]
    scale = max(1, math.ceil(min_side / max(height, width)))
    canvas = img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    canvas = cv2.resize(canvas.astype(np.uint8), (width * scale, height * scale), interpolation=cv2.INTER_NEAREST)
    out = canvas.astype(np.float32)
    masks = []
    for i, inst in enumerate(instances):
        mask = mask_util.decode(inst["segmentation"]).astype(bool)
        if scale > 1:
            mask = mask.repeat(scale, 0).repeat(scale, 1)
        masks.append(mask)
        out[mask] = 0.45 * out[mask] + 0.55 * np.array(instance_colour_bgr(i), np.float32)
    out = out.astype(np.uint8)
    thickness = max(1, round(max(out.shape[:2]) / 600))
    font = 0.4 * max(1.0, max(out.shape[:2]) / 800)
    for i, (inst, mask) in enumerate(zip(instances, masks)):
        colour = instance_colour_bgr(i)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colour, thickness)
        x, y, w, h = (v * scale for v in inst["bbox"])
        p1, p2 = (round(x), round(y)), (round(x + w) - 1, round(y + h) - 1)
        cv2.rectangle(out, p1, p2, colour, thickness)
        text = f"{inst['category_name']} {inst['score']:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
        ty = p1[1] - 2 if p1[1] - th - base - 2 >= 0 else p1[1] + th + 2
        cv2.rectangle(out, (p1[0], ty - th - 2), (p1[0] + tw + 2, ty + base), colour, -1)
        cv2.putText(out, text, (p1[0] + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), 1, cv2.LINE_AA)
    return out
