"""False-positive pixel attribution (Sec. 3.2, Fig. 3; ``FP_RULE``): where the mask pixels of matched detections that
fall outside their ground truth go (seen objects, unseen objects, background)."""
from __future__ import annotations

import os
from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from tqdm import tqdm

from tspsis.core.splits import load_manifest
from tspsis.eval.rules import FP_MATCH_IOU, FP_RULE, GROUPS
from tspsis.eval.loading import _category_groups, _detection_box, _load_ground_truth, _rle, load_detections
from tspsis.eval.coco_subset import SubsetCOCOeval, _coco_from_dataset, _results_coco, _run_cocoeval


# ------------------------------------------------------------------------------- false-positive pixels
def _fp_pixel_counts(dataset: dict, results: list[dict], cat_ids: Sequence[int],
                     seen_ids: Iterable[int]) -> tuple[dict[int, np.ndarray], dict[int, int]]:
    """Per category: (background, seen, unseen) false-positive pixel counts (int64 (3,)) and the number of
    matched detections, following ``FP_RULE`` (box matching, mask pixels)."""
    gt = _coco_from_dataset(COCO, dataset)
    # match on boxes: the detector's bbox (the box is right when the mask spills onto a neighbour)
    boxes = [{"image_id": det["image_id"], "category_id": det["category_id"], "score": det["score"],
              "bbox": _detection_box(det), "result_index": index} for index, det in enumerate(results)]
    dt = _results_coco(gt, boxes)
    evaluator = _run_cocoeval(SubsetCOCOeval, gt, dt, "bbox", cat_ids)
    threshold = int(np.flatnonzero(np.isclose(evaluator.params.iouThrs, FP_MATCH_IOU))[0])
    all_areas = evaluator.params.areaRng[0]
    matches: dict[int, list[tuple[int, int]]] = defaultdict(list)  # image id -> [(result index, gt id)]
    for record in evaluator.evalImgs:
        if record is None or record["aRng"] != all_areas:
            continue
        for dt_id, gt_id, ignored in zip(record["dtIds"], record["dtMatches"][threshold],
                                         record["dtIgnore"][threshold]):
            if gt_id > 0 and not ignored:  # ignored: matched to a crowd region, not an object
                matches[record["image_id"]].append((dt.anns[dt_id]["result_index"], int(gt_id)))

    seen_ids = set(seen_ids)
    counts: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(3, dtype=np.int64))
    matched: dict[int, int] = defaultdict(int)
    for image_id, pairs in tqdm(matches.items(), desc="FP attribution", disable=None):
        image = gt.imgs[image_id]
        masks = {ann["id"]: gt.annToMask(ann).astype(bool) for ann in gt.imgToAnns[image_id]}
        on_seen = np.zeros((image["height"], image["width"]), dtype=bool)
        on_unseen = np.zeros_like(on_seen)
        for ann in gt.imgToAnns[image_id]:
            target = on_seen if ann["category_id"] in seen_ids else on_unseen
            target |= masks[ann["id"]]
        on_unseen &= ~on_seen  # a pixel of a seen and an unseen object counts as seen
        for index, gt_id in pairs:
            false_positive = mask_utils.decode(_rle(results[index]["segmentation"])).astype(bool) & ~masks[gt_id]
            seen = np.count_nonzero(false_positive & on_seen)
            unseen = np.count_nonzero(false_positive & on_unseen)
            category = results[index]["category_id"]
            counts[category] += (np.count_nonzero(false_positive) - seen - unseen, seen, unseen)
            matched[category] += 1
    return counts, matched


def _fp_summary(counts: dict[int, np.ndarray], matched: dict[int, int], cat_ids: Iterable[int],
                categories: str) -> dict:
    cat_ids = list(cat_ids)
    total = sum((counts[c] for c in cat_ids if c in counts), np.zeros(3, dtype=np.int64))
    names = ("background", "seen", "unseen")
    pixels = int(total.sum())
    return {
        **{name: int(n) for name, n in zip(names, total)},
        "total": pixels,
        "fractions": {name: (int(n) / pixels if pixels else None) for name, n in zip(names, total)},
        "num_matched_detections": sum(matched.get(c, 0) for c in cat_ids),
        "categories": categories,
        "rule": FP_RULE,
    }


def _fp_attribution_groups(dataset: dict, results: list[dict], groups: dict[str, list[int]]) -> dict:
    """false_positive_attribution for unseen, seen and all from one matching run (matching is per
    category, so a group's counts are the sum over its categories)."""
    counts, matched = _fp_pixel_counts(dataset, results, groups["all"], groups["seen"])
    return {group: _fp_summary(counts, matched, groups[group], group) for group in GROUPS}


def false_positive_attribution(coco_gt: Any, detections: list[dict] | str | os.PathLike,
                               manifest: Mapping | str | os.PathLike, categories: str = "unseen") -> dict:
    """Sec. 3.2 / Fig. 3: false-positive mask pixels of matched detections split into background, seen
    objects and unseen objects (``FP_RULE``). Detections are matched by box IoU >= 0.5, not mask IoU: a
    class-agnostic mask that covers an overlapping neighbour has a low mask IoU but a right box, and its
    pixels on the neighbour are exactly what Fig. 3 counts.

    categories: "unseen", "seen" or "all" -- which detections (and matched ground truth) are counted;
    occluders are always every ground-truth mask of the image. Returns {"background": n, "seen": n,
    "unseen": n, "total": n, "fractions": {background, seen, unseen} (None if total is 0),
    "num_matched_detections": n (matched by box), "categories": ..., "rule": FP_RULE}.
    """
    if categories not in GROUPS:
        raise ValueError(f"categories must be one of {GROUPS}, got {categories!r}")
    dataset, gt_source = _load_ground_truth(coco_gt)
    groups = _category_groups(load_manifest(manifest), dataset, gt_source)
    results = load_detections(detections, dataset, iou_types=("segm",))
    if not groups[categories]:
        return _fp_summary({}, {}, [], categories)
    counts, matched = _fp_pixel_counts(dataset, results, groups[categories], groups["seen"])
    return _fp_summary(counts, matched, groups[categories], categories)
