"""Which part of a category a detector gets wrong, when categories are combinations of attributes (the synthetic
benchmark's: ``appearance`` x ``shape_family``, fields of its category records; COCO's ``supercategory``).

``attribute_box_ap``: box AP with the categories merged by an attribute (one category per value), beside the
category-wise and the class-agnostic AP: an attribute whose merged AP is close to the class-agnostic one is named
right; one whose merged AP stays at the category-wise AP is what the detector confuses.
``attribute_accuracy``: of the detections that find an object (class-agnostic box IoU >= ``iou``, COCO's greedy
matching by score, each object once) and score at least ``min_score``, the share that names the object's attribute.

An analysis of finished runs' detections: imported by its own name, never by ``tspsis.eval``'s ``__init__``, so that
it stays out of the code a training process runs and of the run keys (``tspsis.lab.digest``).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tspsis.eval.coco_subset import (
    _coco_from_dataset,
    _results_coco,
    _run_cocoeval,
    coco_ap,
)
from tspsis.eval.loading import _load_ground_truth, load_detections

__all__ = ["SIZE_BUCKETS", "attribute_accuracy", "attribute_box_ap", "merged_by"]

CLASS_AGNOSTIC = None  # merged_by(..., attribute=None): every category one
SIZE_BUCKETS = {"small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, float("inf"))}  # COCO's


def merged_by(dataset: dict, detections: list[dict], attribute: str | None) -> tuple[dict, list[dict]]:
    """Ground truth and detections with categories relabelled by ``attribute`` (a field of the category records;
    None: one category for all). Returns copies; ids of the merged categories are 1..K in order of first value."""
    categories = {int(c["id"]): c for c in dataset["categories"]}
    missing = [c["name"] for c in categories.values() if attribute is not None and attribute not in c]
    if missing:
        raise ValueError(f"categories {missing[:3]} have no field '{attribute}'")
    value = {cid: "object" if attribute is None else str(c[attribute]) for cid, c in categories.items()}
    merged_id = {v: i + 1 for i, v in enumerate(dict.fromkeys(value.values()))}
    relabel = {cid: merged_id[v] for cid, v in value.items()}
    merged = dict(dataset, categories=[{"id": i, "name": v} for v, i in merged_id.items()],
                  annotations=[dict(a, category_id=relabel[int(a["category_id"])]) for a in dataset["annotations"]])
    return merged, [dict(d, category_id=relabel[int(d["category_id"])]) for d in detections]


def attribute_box_ap(coco_gt: Any, detections: list[dict] | str | os.PathLike,
                     attributes: Sequence[str] = ()) -> dict[str, dict]:
    """Box AP records (``coco_ap``, percent) of the detections: ``category`` (as they are), ``class-agnostic``, and
    one per attribute with the categories merged by it."""
    dataset, _ = _load_ground_truth(coco_gt)
    results = load_detections(detections, dataset, iou_types=("bbox",))
    records = {"category": coco_ap(dataset, results, "bbox")}
    for name, attribute in [("class-agnostic", CLASS_AGNOSTIC), *((a, a) for a in attributes)]:
        records[name] = coco_ap(*merged_by(dataset, results, attribute), "bbox")
    return records


def attribute_accuracy(coco_gt: Any, detections: list[dict] | str | os.PathLike, attribute: str,
                       iou: float = 0.5, min_score: float = 0.3,
                       area_range: tuple[float, float] | None = None) -> dict[str, float | int]:
    """{accuracy, matched}: the share of the detections scoring >= ``min_score`` that find an object (class-agnostic
    box IoU >= ``iou``) whose ``attribute`` they name right, and how many such detections there are.
    area_range: (low, high) annotation area; objects outside it are left out of the ground truth (COCO's size buckets:
    ``SIZE_BUCKETS``)."""
    dataset, _ = _load_ground_truth(coco_gt)
    if area_range is not None:
        dataset["annotations"] = [a for a in dataset["annotations"] if area_range[0] <= a["area"] < area_range[1]]
    results = [d for d in load_detections(detections, dataset, iou_types=("bbox",)) if d["score"] >= min_score]
    merged_by(dataset, [], attribute)  # every category has the field
    attribute_of = {int(c["id"]): c[attribute] for c in dataset["categories"]}
    truth = {int(a["id"]): attribute_of[int(a["category_id"])] for a in dataset["annotations"]}
    agnostic, agnostic_results = merged_by(dataset, [dict(d, result_index=i) for i, d in enumerate(results)],
                                           CLASS_AGNOSTIC)
    gt = _coco_from_dataset(COCO, agnostic)
    dt = _results_coco(gt, agnostic_results)
    evaluator = _run_cocoeval(COCOeval, gt, dt, "bbox", [1])
    levels = np.flatnonzero(np.isclose(evaluator.params.iouThrs, iou))
    if not len(levels):
        raise ValueError(f"iou must be one of COCO's thresholds {evaluator.params.iouThrs.round(2).tolist()}, got {iou}")
    level = int(levels[0])
    every_area = evaluator.params.areaRng[0]
    right = matched = 0
    for record in evaluator.evalImgs:
        if record is None or record["aRng"] != every_area:
            continue
        for dt_id, gt_id, ignored in zip(record["dtIds"], record["dtMatches"][level], record["dtIgnore"][level]):
            if gt_id > 0 and not ignored:
                matched += 1
                named = attribute_of[int(results[dt.anns[dt_id]["result_index"]]["category_id"])]
                right += named == truth[int(gt_id)]
    return {"accuracy": right / matched if matched else float("nan"), "matched": matched}
