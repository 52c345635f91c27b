"""The object-overlap subsets (Fig. 2's bins, Table 2's O >= 0.3) on both sides: the ground truth's O (Eq. 1) and
a detection's own O (``DETECTION_OVERLAP_RULE``, ``detection_overlaps``)."""
from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np

from tspsis.core.overlap import (OVERLAP_BIN_EDGES, annotation_overlaps, box_pixel_ranges, decode_segmentation,
                                 overlap_bins)
from tspsis.eval.rules import OVERLAPPED_THRESHOLD
from tspsis.eval.loading import _box_iou, _detection_box, _non_crowd_ids


# ----------------------------------------------------------------------------------------------- scoring
def _ground_truth_overlaps(dataset: dict, gt_source: str) -> dict[int, float]:
    """annotation_overlaps (Eq. 1) with the ground-truth file named in its errors."""
    try:
        return annotation_overlaps(dataset)
    except ValueError as err:  # annotation_overlaps names the annotation, not the file
        raise ValueError(f"{gt_source}: {err}") from err


def _bin_label(lo: float, hi: float) -> str:
    def fmt(x: float) -> str:
        return f"{x:.1f}" if round(x, 1) == x else f"{x:g}"
    return f"{fmt(lo)}-{fmt(hi)}"


def _bin_indices(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Bin of each value for increasing ``edges`` x_0 < ... < x_K: bin k (0-based) holds x_k < O <= x_{k+1},
    O == x_0 is in bin 0 (Fig. 2's rule, ``overlap_bins`` for the default edges); -1 outside [x_0, x_K].
    values: (N,). Returns (N,) int64."""
    edges_np = np.asarray(edges, dtype=np.float64)
    index = np.searchsorted(edges_np, values, side="left") - 1
    index[values == edges_np[0]] = 0
    index[(values < edges_np[0]) | (values > edges_np[-1])] = -1
    return index.astype(np.int64)


def _subset_membership(values: np.ndarray) -> dict[str, np.ndarray]:
    """{label: (N,) bool} for the subsets of ``evaluate``: one per Fig. 2 bin ("0.0-0.1", ...) and the
    Table 2 overlapped objects ("overlapped": O >= OVERLAPPED_THRESHOLD). values: (N,) O in [0, 1]."""
    bins = overlap_bins(values)
    labels = [_bin_label(lo, hi) for lo, hi in itertools.pairwise(OVERLAP_BIN_EDGES)]
    members = {label: bins == k for k, label in enumerate(labels)}
    members["overlapped"] = values >= OVERLAPPED_THRESHOLD
    return members


def _subsets(dataset: dict, unseen_ids: Sequence[int], overlaps: Mapping[int, float]) -> dict[str, list[int]]:
    """Unseen-category ground-truth subsets {label: annotation ids} (labels of ``_subset_membership``).
    overlaps: O_i (Eq. 1) of every annotation, on the full ground truth."""
    ann_ids = _non_crowd_ids(dataset, unseen_ids)
    values = np.array([overlaps[i] for i in ann_ids], dtype=np.float64)
    return {label: [i for i, keep in zip(ann_ids, member) if keep]
            for label, member in _subset_membership(values).items()}


def _detection_subsets(dataset: dict, dt: Any, unseen_ids: Sequence[int],
                       overlaps: Mapping[int, float]) -> dict[str, list[int]]:
    """The same subsets on the detection side: {label: ids in ``dt`` of the unseen-category detections
    whose own O (``detection_overlaps`` on the loaded results, whose ``bbox`` is the mask's box for segm)
    is in the subset}. Detections of other categories are not scored in these subsets anyway."""
    wanted = set(unseen_ids)
    anns = [ann for ann in dt.dataset["annotations"] if ann["category_id"] in wanted]
    values = detection_overlaps(dataset, anns, overlaps)
    return {label: [ann["id"] for ann, keep in zip(anns, member) if keep]
            for label, member in _subset_membership(values).items()}




# --------------------------------------------------------------------------------- detection overlap
def _box_mask_overlap(boxes: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Eq. 1 of boxes that are not ground truth: max_j |b_n ∩ s_j| / |b_n| over all masks j, with the pixel
    rule of ``tspsis.core.overlap`` (pixel centres, half-open boxes, clipped to [0, 1]; 0 for a box without area).

    boxes: (N, 4) float xyxy; masks: (M, H, W) bool. Returns (N,) float64."""
    n = len(boxes)
    best = np.zeros(n, dtype=np.int64)
    if n == 0 or len(masks) == 0:
        return np.zeros(n, dtype=np.float64)
    height, width = masks.shape[1:]
    c0, r0, c1, r1 = box_pixel_ranges(boxes, height, width).T
    c1, r1 = np.maximum(c1, c0), np.maximum(r1, r0)
    integral = np.zeros((height + 1, width + 1), dtype=np.int64)
    for mask in masks:
        integral[1:, 1:] = mask.cumsum(0, dtype=np.int64).cumsum(1)
        best = np.maximum(best, integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    overlap = np.zeros(n, dtype=np.float64)
    valid = area > 0
    overlap[valid] = np.minimum(best[valid] / area[valid], 1.0)
    return overlap


def detection_overlaps(coco_gt: Any, detections: Sequence[Mapping],
                       gt_overlaps: Mapping[int, float] | None = None) -> np.ndarray:
    """The O of each detection (``DETECTION_OVERLAP_RULE``), the detection side of the subset rule.

    A detection takes the O (Eq. 1) of the non-crowd ground truth of its image and category whose box has
    the highest IoU with its box (ties: the first annotation); a detection whose box overlaps none of them
    gets Eq. 1 on its own box against every ground-truth mask of its image (crowd regions included, as in
    ``annotation_overlaps``), 0 in an image without ground truth.

    coco_gt: COCO-format dict or COCO API object with masks. detections: COCO results (``bbox`` xywh, or an
    RLE ``segmentation`` whose tight box is used when there is no bbox). gt_overlaps: {annotation id: O}
    (``annotation_overlaps``; computed when None). Returns (N,) float64 in [0, 1], in the order of
    ``detections``.
    """
    dataset = coco_gt.dataset if hasattr(coco_gt, "dataset") else coco_gt
    gt_overlaps = annotation_overlaps(dataset) if gt_overlaps is None else gt_overlaps
    images = {img["id"]: img for img in dataset["images"]}
    per_image: dict[Any, list[dict]] = defaultdict(list)
    for ann in dataset["annotations"]:
        per_image[ann["image_id"]].append(ann)
    by_image_category: dict[tuple[Any, Any], list[int]] = defaultdict(list)
    for index, det in enumerate(detections):
        by_image_category[det["image_id"], det["category_id"]].append(index)
    boxes = np.array([_detection_box(det) for det in detections], dtype=np.float64).reshape(-1, 4)

    result = np.zeros(len(detections), dtype=np.float64)
    fallback: dict[Any, list[int]] = defaultdict(list)
    for (image_id, category_id), indices in by_image_category.items():
        same = [a for a in per_image.get(image_id, []) if a["category_id"] == category_id and not a.get("iscrowd", 0)]
        ious = _box_iou(boxes[indices], np.array([a["bbox"] for a in same], dtype=np.float64).reshape(-1, 4))
        for index, row in zip(indices, ious):
            if row.size and row.max() > 0:
                result[index] = gt_overlaps[same[int(row.argmax())]["id"]]
            else:
                fallback[image_id].append(index)
    for image_id, indices in fallback.items():
        anns = per_image.get(image_id, [])
        if not anns:
            continue
        height, width = int(images[image_id]["height"]), int(images[image_id]["width"])
        masks = np.stack([decode_segmentation(a["segmentation"], height, width) for a in anns])
        xyxy = boxes[indices].copy()
        xyxy[:, 2:] += xyxy[:, :2]
        result[indices] = _box_mask_overlap(xyxy, masks)
    return result
