"""Loading for the evaluation: the ground truth, the seen / unseen / all category groups of a split manifest, the
detections (checked against the ground truth) and their boxes and RLEs."""
from __future__ import annotations

import copy
import math
import numbers
import os
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from tspsis.core.io import read_json
from tspsis.core.validate import validate_coco
from tspsis.eval.rules import IOU_TYPES


# ---------------------------------------------------------------------------------------------- loading
def _load_ground_truth(coco_gt: Any) -> tuple[dict, str]:
    """A private deep copy of a COCO ground-truth dataset (evaluation mutates annotation dicts) and a name
    for error messages. coco_gt: path (checked by ``validate_coco``), COCO-format dict, or COCO API object
    (``.dataset``)."""
    if isinstance(coco_gt, (str, os.PathLike)):
        source, dataset = str(coco_gt), validate_coco(coco_gt)
    else:
        source = "ground truth"
        dataset = copy.deepcopy(coco_gt.dataset if hasattr(coco_gt, "dataset") else coco_gt)
    if not isinstance(dataset, dict):
        raise ValueError(f"{source}: expected a COCO-format JSON object")
    for field in ("images", "annotations", "categories"):
        if not isinstance(dataset.get(field), list):
            raise ValueError(f"{source}: field '{field}' is missing or not a list")
    return dataset, source


def _category_groups(manifest: dict, dataset: dict, gt_source: str) -> dict[str, list[int]]:
    """{unseen, seen, all: sorted category ids}; the manifest must partition the GT categories."""
    gt_ids = {int(c["id"]) for c in dataset["categories"]}
    groups = {"unseen": sorted(manifest["unseen_category_ids"]), "seen": sorted(manifest["seen_category_ids"]),
              "all": sorted(gt_ids)}
    for field in ("unseen", "seen"):
        unknown = sorted(set(groups[field]) - gt_ids)
        if unknown:
            raise ValueError(f"{manifest['_source']}: field '{field}_category_ids' has ids {unknown} that are "
                             f"not categories of {gt_source}")
    unlisted = sorted(gt_ids - set(groups["seen"]) - set(groups["unseen"]))
    if unlisted:
        raise ValueError(f"{manifest['_source']}: categories {unlisted} of {gt_source} are in neither "
                         "'seen_category_ids' nor 'unseen_category_ids'")
    return groups


def load_detections(detections: list[dict] | str | os.PathLike, coco_gt: Any,
                    iou_types: Sequence[str] = IOU_TYPES) -> list[dict]:
    """Validated COCO results list: dicts with image_id, category_id, score, plus ``bbox`` (xywh) for
    "bbox" and ``segmentation`` (RLE dict with size and counts) for "segm".

    detections: list or path to a JSON list. coco_gt: COCO-format dict or COCO API object; image and
    category ids must be among its ids. Raises ValueError naming the file, the detection and the field.
    """
    source = str(detections) if isinstance(detections, (str, os.PathLike)) else "detections"
    results = read_json(detections, "detections") if isinstance(detections, (str, os.PathLike)) else detections
    if not isinstance(results, list):
        raise ValueError(f"{source}: expected a JSON list of COCO results")
    dataset = coco_gt.dataset if hasattr(coco_gt, "dataset") else coco_gt
    image_sizes = {img["id"]: [img.get("height"), img.get("width")] for img in dataset["images"]}
    cat_ids = {cat["id"] for cat in dataset["categories"]}
    required = ["image_id", "category_id", "score"]
    required += [{"bbox": "bbox", "segm": "segmentation"}[t] for t in iou_types]
    for index, det in enumerate(results):
        where = f"{source}: detection {index}"
        if not isinstance(det, dict):
            raise ValueError(f"{where}: expected an object, got {type(det).__name__}")
        for field in required:
            if field not in det:
                raise ValueError(f"{where}: field '{field}' is missing")
        if det["image_id"] not in image_sizes:
            raise ValueError(f"{where}: field 'image_id' = {det['image_id']!r} is not an image of the ground truth")
        if det["category_id"] not in cat_ids:
            raise ValueError(f"{where}: field 'category_id' = {det['category_id']!r} is not a ground-truth "
                             "category")
        if not isinstance(det["score"], numbers.Real) or not math.isfinite(det["score"]):
            raise ValueError(f"{where}: field 'score' must be a finite number")
        if "bbox" in required and (not isinstance(det["bbox"], (list, tuple)) or len(det["bbox"]) != 4):
            raise ValueError(f"{where}: field 'bbox' must be [x, y, w, h]")
        if "segmentation" in required:
            seg = det["segmentation"]
            if not isinstance(seg, dict) or "size" not in seg or "counts" not in seg:
                raise ValueError(f"{where}: field 'segmentation' must be an RLE dict with 'size' and 'counts'")
            if list(seg["size"]) != image_sizes[det["image_id"]]:
                raise ValueError(f"{where}: field 'segmentation' has size {list(seg['size'])}, but image "
                                 f"{det['image_id']} is [height, width] = {image_sizes[det['image_id']]}")
    return results




def _non_crowd_ids(dataset: dict, cat_ids: Iterable[int]) -> list[int]:
    wanted = set(cat_ids)
    return [a["id"] for a in dataset["annotations"] if a["category_id"] in wanted and not a.get("iscrowd", 0)]


def _detection_box(det: Mapping) -> list[float]:
    """[x, y, w, h] of a detection: its ``bbox``, else the tight box of its ``segmentation`` (RLE)."""
    if det.get("bbox") is not None:
        return [float(v) for v in det["bbox"]]
    return [float(v) for v in mask_utils.toBbox(_rle(det["segmentation"]))]


def _rle(segmentation: Mapping) -> dict:
    """A compressed RLE dict pycocotools' C functions accept (``counts`` as bytes)."""
    counts = segmentation["counts"]
    return {"size": list(segmentation["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def _box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of xywh boxes, (A, 4) x (B, 4) -> (A, B) float64 (continuous areas, as COCOeval's bbox IoU)."""
    if len(boxes_a) == 0 or len(boxes_b) == 0:
        return np.zeros((len(boxes_a), len(boxes_b)), dtype=np.float64)
    return np.asarray(mask_utils.iou(np.asarray(boxes_a, dtype=np.float64), np.asarray(boxes_b, dtype=np.float64),
                                     [0] * len(boxes_b)), dtype=np.float64).reshape(len(boxes_a), len(boxes_b))
