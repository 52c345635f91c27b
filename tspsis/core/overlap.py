"""Object overlap O_i (paper Eq. 1) and the overlap bins of Fig. 2 / Table 2.

Eq. 1:  O_i = max_{j in I, j != i} |b_i ∩ s_j| / |b_i|

b_i is the box of object i and s_j the (modal) mask of another object j of the same image. The paper uses
the box, not the mask, of i because the masks of two overlapping objects need not intersect (a modal mask
excludes the occluded pixels).

Pixel/box rule (boxes are continuous coordinates, masks are pixel sets):
  * pixel (x, y) covers the square [x, x+1) x [y, y+1); its centre is (x + 0.5, y + 0.5);
  * |b_i ∩ s_j| is the number of pixels of s_j whose centre lies in b_i, with x1 <= cx < x2 and
    y1 <= cy < y2 (half-open, so a box [x, x+w) of integer pixels counts exactly w columns);
  * |b_i| = (x2 - x1) * (y2 - y1), the continuous box area;
  * O_i is clipped to [0, 1] (a box thinner than a pixel can hold a pixel centre yet have area < 1), and
    O_i = 0 when b_i has no area or when i is alone in its image.
For boxes on integer coordinates (tight boxes of pixel masks, e.g. COCO RLE annotations) this is exactly the
fraction of the box's pixels that belong to another object.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from pycocotools import mask as mask_utils

__all__ = [
    "OVERLAP_BIN_EDGES",
    "annotation_overlaps",
    "box_pixel_ranges",
    "decode_segmentation",
    "object_overlap",
    "overlap_bin",
    "overlap_bins",
]

# x_0 .. x_10 of Fig. 2: bin i (0-based) holds x_i < O <= x_{i+1}; O == 0 goes in bin 0.
OVERLAP_BIN_EDGES: tuple[float, ...] = tuple(round(k / 10, 1) for k in range(11))


def box_pixel_ranges(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixel index ranges of boxes under the pixel-centre rule, clipped to the image.

    boxes: (N, 4) float xyxy. Returns (N, 4) int64 [col0, row0, col1, row1], half-open: pixel (x, y) has its
    centre in box n iff col0 <= x < col1 and row0 <= y < row1.
    """
    # x1 <= x + 0.5 < x2  <=>  ceil(x1 - 0.5) <= x < ceil(x2 - 0.5)
    ranges = np.ceil(np.asarray(boxes, dtype=np.float64) - 0.5).astype(np.int64)
    ranges[:, 0::2] = np.clip(ranges[:, 0::2], 0, width)
    ranges[:, 1::2] = np.clip(ranges[:, 1::2], 0, height)
    return ranges


def _pairwise_box_mask_intersections(boxes: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """|b_i ∩ s_j| for all pairs, (N, N) int64 with a zero diagonal.

    Visits, for each mask j, only the boxes that meet the pixel extent of s_j, and sums s_j over them with an
    integral image of s_j cropped to its extent (O(N) small cumulative sums instead of N full-image ones).
    """
    n, height, width = masks.shape
    ranges = box_pixel_ranges(boxes, height, width)
    rows_any, cols_any = masks.any(axis=2), masks.any(axis=1)  # (N, H), (N, W)
    inter = np.zeros((n, n), dtype=np.int64)
    for j in range(n):
        rows, cols = np.flatnonzero(rows_any[j]), np.flatnonzero(cols_any[j])
        if rows.size == 0:
            continue
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        # clip every box to the extent of s_j; boxes that do not meet it get an empty range
        bc0, bc1 = np.clip(ranges[:, 0], c0, c1), np.clip(ranges[:, 2], c0, c1)
        br0, br1 = np.clip(ranges[:, 1], r0, r1), np.clip(ranges[:, 3], r0, r1)
        meets = (bc1 > bc0) & (br1 > br0)
        meets[j] = False  # j != i in Eq. 1
        if not meets.any():
            continue
        integral = np.zeros((r1 - r0 + 1, c1 - c0 + 1), dtype=np.int64)
        integral[1:, 1:] = masks[j, r0:r1, c0:c1].cumsum(0).cumsum(1)
        i = np.flatnonzero(meets)
        y0, y1, x0, x1 = br0[i] - r0, br1[i] - r0, bc0[i] - c0, bc1[i] - c0
        inter[i, j] = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return inter


def object_overlap(boxes: np.ndarray | torch.Tensor, masks: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Eq. 1: O_i = max_{j != i} |b_i ∩ s_j| / |b_i| for the objects of one image.

    boxes: (N, 4) xyxy in pixels (continuous coordinates, see the module docstring for the pixel rule);
    masks: (N, H, W) bool, modal masks of the same N objects.
    Returns (N,) float64 in [0, 1] (a torch tensor on the boxes' device if boxes is a tensor, else numpy);
    0 for an object alone in its box or in its image.
    """
    as_tensor = isinstance(boxes, torch.Tensor)
    device = boxes.device if as_tensor else None
    boxes_np = boxes.detach().cpu().numpy() if as_tensor else np.asarray(boxes)
    masks_np = masks.detach().cpu().numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
    boxes_np = boxes_np.astype(np.float64).reshape(-1, 4)
    if masks_np.ndim != 3 or masks_np.shape[0] != boxes_np.shape[0]:
        raise ValueError(f"object_overlap: masks must be (N, H, W) with N = {boxes_np.shape[0]} boxes, "
                         f"got shape {masks_np.shape}")
    n = boxes_np.shape[0]
    overlap = np.zeros(n, dtype=np.float64)
    if n > 1:
        inter = _pairwise_box_mask_intersections(boxes_np, masks_np.astype(bool, copy=False))
        area = (boxes_np[:, 2] - boxes_np[:, 0]) * (boxes_np[:, 3] - boxes_np[:, 1])
        best = inter.max(axis=1).astype(np.float64)
        valid = area > 0
        overlap[valid] = np.minimum(best[valid] / area[valid], 1.0)
    return torch.as_tensor(overlap, device=device) if as_tensor else overlap


def overlap_bins(overlaps: np.ndarray | Sequence[float]) -> np.ndarray:
    """Fig. 2 bin index (0..9) of each overlap: bin i holds x_i < O <= x_{i+1}; O == 0 is in bin 0.

    overlaps: (N,) values in [0, 1]. Returns (N,) int64.
    """
    values = np.asarray(overlaps, dtype=np.float64).reshape(-1)
    if values.size and (np.nanmin(values) < 0 or np.nanmax(values) > 1 or np.isnan(values).any()):
        raise ValueError(f"overlap values must lie in [0, 1], got min {values.min()} max {values.max()}")
    # searchsorted(side='left') returns k with edges[k-1] < O <= edges[k]
    return np.maximum(np.searchsorted(OVERLAP_BIN_EDGES, values, side="left") - 1, 0).astype(np.int64)


def overlap_bin(overlap: float) -> int:
    """Fig. 2 bin index (0..9) of one overlap value; see overlap_bins."""
    return int(overlap_bins([overlap])[0])


def decode_segmentation(segmentation: Any, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of a COCO `segmentation` (polygon list, uncompressed or compressed RLE)."""
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation, Mapping) and isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(dict(segmentation), height, width)
    elif isinstance(segmentation, Mapping):
        counts = segmentation["counts"]
        rle = {"size": list(segmentation["size"]),
               "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    else:
        raise ValueError(f"unsupported segmentation of type {type(segmentation).__name__}")
    return mask_utils.decode(rle).astype(bool)


def annotation_overlaps(coco: Any) -> dict[int, float]:
    """O_i (Eq. 1) of every annotation of a COCO dataset, from its ground truth.

    coco: a COCO-format dict or a pycocotools COCO object. Every instance of an image counts as a possible
    occluder (all categories, crowd regions included); boxes come from `bbox` (xywh), masks from
    `segmentation`. This is an evaluation tool on full ground truth: an annotation without `segmentation`
    raises ValueError. Returns {annotation id: O}.
    """
    dataset = coco.dataset if hasattr(coco, "dataset") else coco
    images = {img["id"]: img for img in dataset.get("images", [])}
    per_image: dict[int, list[dict]] = defaultdict(list)
    for ann in dataset.get("annotations", []):
        per_image[ann["image_id"]].append(ann)
    result: dict[int, float] = {}
    for image_id, anns in per_image.items():
        if image_id not in images:
            raise ValueError(f"annotation {anns[0]['id']}: field 'image_id' = {image_id} is not an image id")
        height, width = int(images[image_id]["height"]), int(images[image_id]["width"])
        masks = np.zeros((len(anns), height, width), dtype=bool)
        for k, ann in enumerate(anns):
            if "segmentation" not in ann:
                raise ValueError(f"annotation {ann['id']}: field 'segmentation' is missing; object overlap "
                                 "needs the full ground truth (not a partially annotated training file)")
            masks[k] = decode_segmentation(ann["segmentation"], height, width)
        x, y, w, h = np.asarray([ann["bbox"] for ann in anns], dtype=np.float64).T
        overlaps = object_overlap(np.stack([x, y, x + w, y + h], axis=1), masks)
        result.update({int(ann["id"]): float(o) for ann, o in zip(anns, overlaps)})
    return result
