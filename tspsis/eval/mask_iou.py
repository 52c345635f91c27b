"""Mean mask IoU per object-overlap bin (the box-conditioned track; ``MASK_IOU_RULE``): score-independent, each
ground-truth instance paired with the detection of (almost) its box."""
from __future__ import annotations

import itertools
import math
import os
from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from tspsis.core.overlap import (OVERLAP_BIN_EDGES)
from tspsis.core.splits import load_manifest
from tspsis.eval.rules import GROUPS, MASK_IOU_MIN_BOX_IOU, MASK_IOU_RULE, OVERLAPPED_THRESHOLD
from tspsis.eval.loading import (_box_iou, _category_groups, _detection_box, _load_ground_truth, _non_crowd_ids, _rle,
                                 load_detections)
from tspsis.eval.coco_subset import _coco_from_dataset
from tspsis.eval.overlap_subsets import _bin_indices, _bin_label, _ground_truth_overlaps


# ------------------------------------------------------------------------------ mean mask IoU (track)
def _check_bins(bins: Sequence[float]) -> list[float]:
    edges = [float(b) for b in bins]
    if len(edges) < 2 or any(not math.isfinite(b) for b in edges) or any(b >= c for b, c in itertools.pairwise(edges)):
        raise ValueError(f"bins must be at least two increasing finite edges, got {list(bins)}")
    return edges


def _pair_masks(gt: Any, anns: list[dict], dets: list[dict], min_box_iou: float) -> list[float | None]:
    """Mask IoU of each ground truth of one image and category with its paired detection (``MASK_IOU_RULE``),
    None where unpaired. anns: non-crowd annotations; dets: results of the same image and category."""
    if not anns or not dets:
        return [None] * len(anns)
    box_iou = _box_iou(np.array([_detection_box(d) for d in dets]), np.array([a["bbox"] for a in anns],
                                                                                dtype=np.float64))
    candidates = np.argwhere(box_iou >= min_box_iou)  # (K, 2) [det, gt]
    if not len(candidates):
        return [None] * len(anns)
    mask_iou = np.asarray(mask_utils.iou([_rle(d["segmentation"]) for d in dets], [gt.annToRLE(a) for a in anns],
                                         [0] * len(anns)), dtype=np.float64).reshape(box_iou.shape)
    order = sorted(map(tuple, candidates), key=lambda p: (-box_iou[p], -mask_iou[p], p[1], p[0]))
    paired: list[float | None] = [None] * len(anns)
    used: set[int] = set()
    for d, g in order:
        if d in used or paired[g] is not None:
            continue
        used.add(d)
        paired[g] = float(mask_iou[d, g])
    return paired


def _iou_record(ious: Sequence[float | None]) -> dict:
    """{mIoU (percent, None without ground truth), num_gt, missing} of ground truth with paired IoUs."""
    values = [0.0 if v is None else v for v in ious]
    return {"mIoU": 100.0 * float(np.mean(values)) if values else None, "num_gt": len(values),
            "missing": sum(v is None for v in ious)}


def _mask_iou_groups(dataset: dict, results: list[dict], groups: Mapping[str, Sequence[int]],
                     bins: Sequence[float], min_box_iou: float, overlaps: Mapping[int, float]) -> dict:
    """mask_iou_by_overlap on validated inputs (see there)."""
    edges = _check_bins(bins)
    gt = _coco_from_dataset(COCO, dataset)
    dets_by_key: dict[tuple[Any, Any], list[dict]] = defaultdict(list)
    for det in results:
        dets_by_key[det["image_id"], det["category_id"]].append(det)
    anns_by_key: dict[tuple[Any, Any], list[dict]] = defaultdict(list)
    for ann in dataset["annotations"]:
        if not ann.get("iscrowd", 0):
            anns_by_key[ann["image_id"], ann["category_id"]].append(ann)
    paired: dict[int, float | None] = {}  # annotation id -> mask IoU with its detection
    for key, anns in anns_by_key.items():
        paired.update(zip((a["id"] for a in anns), _pair_masks(gt, anns, dets_by_key.get(key, []), min_box_iou)))

    labels = [_bin_label(lo, hi) for lo, hi in itertools.pairwise(edges)]
    output: dict[str, Any] = {}
    for group in GROUPS:
        ann_ids = _non_crowd_ids(dataset, groups[group])
        values = np.array([overlaps[i] for i in ann_ids], dtype=np.float64)
        bin_of = _bin_indices(values, edges)
        output[group] = _iou_record([paired[i] for i in ann_ids]) | {
            "overlap_bins": {label: _iou_record([paired[i] for i, b in zip(ann_ids, bin_of) if b == k])
                             for k, label in enumerate(labels)},
            "overlapped": {"threshold": OVERLAPPED_THRESHOLD}
                          | _iou_record([paired[i] for i, o in zip(ann_ids, values) if o >= OVERLAPPED_THRESHOLD]),
        }
    output.update(rule=MASK_IOU_RULE, min_box_iou=min_box_iou, bin_edges=edges,
                  iou_unit="percent (100 x mean mask IoU); null without ground truth")
    return output


def mask_iou_by_overlap(coco_gt: Any, detections: list[dict] | str | os.PathLike,
                        manifest: Mapping | str | os.PathLike, bins: Sequence[float] = OVERLAP_BIN_EDGES, *,
                        min_box_iou: float = MASK_IOU_MIN_BOX_IOU) -> dict:
    """Mean mask IoU of the box-conditioned track, overall, per overlap bin and on overlapped objects, for
    unseen / seen / all categories (``MASK_IOU_RULE``). Score-independent: the mask head is judged on the
    ground-truth boxes, one detection per non-crowd ground-truth instance with the GT box and label.

    Each non-crowd ground truth is paired one-to-one with a detection of its image and category, greedily in
    decreasing box IoU (ties: higher mask IoU), among pairs with box IoU >= ``min_box_iou`` (in this track
    the boxes are identical, so the pairing is exact; one-to-one so that one detection never counts for two
    instances). An unpaired ground truth counts IoU 0 and is counted in ``missing``. Bins are by the
    ground truth's O (Eq. 1, ``annotation_overlaps``): bin k holds bins[k] < O <= bins[k+1], O == bins[0]
    in bin 0 (the Fig. 2 rule); "overlapped" is O >= 0.3 (Table 2).

    coco_gt: full ground truth with masks (path, dict or COCO object; not modified). detections: COCO
    results with RLE ``segmentation`` (``bbox`` xywh, else the mask's tight box). manifest: split manifest.
    bins: increasing overlap bin edges (default: Fig. 2's 0, 0.1, ..., 1).

    Returns {"unseen"|"seen"|"all": {"mIoU": percent or None, "num_gt": n, "missing": n,
                                     "overlap_bins": {"0.0-0.1": {mIoU, num_gt, missing}, ...},
                                     "overlapped": {"threshold": 0.3, mIoU, num_gt, missing}},
             "rule": MASK_IOU_RULE, "min_box_iou": ..., "bin_edges": [...], "iou_unit": ...}.
    """
    edges = _check_bins(bins)
    dataset, gt_source = _load_ground_truth(coco_gt)
    groups = _category_groups(load_manifest(manifest), dataset, gt_source)
    results = load_detections(detections, dataset, iou_types=("segm",))
    overlaps = _ground_truth_overlaps(dataset, gt_source)
    return _mask_iou_groups(dataset, results, groups, edges, min_box_iou, overlaps)
