"""Partially supervised evaluation: COCO AP on unseen / seen / all categories (Table 1), AP per object
overlap bin (Fig. 2) and on overlapped objects O >= 0.3 (Table 2), and false-positive pixel attribution
(Sec. 3.2, Fig. 3).

Conventions
  * AP numbers are in percent: 100 x pycocotools' ``COCOeval.stats[:6]`` (AP, AP50, AP75, APs, APm, APl),
    standard COCO parameters (IoU .50:.05:.95, 101 recall points, 100 detections per image). A number
    COCOeval reports as -1 (no ground truth, e.g. no small objects) is ``None``.
  * A group of categories is scored exactly like COCOeval with ``params.catIds`` set to that group.
  * "segm" uses the mask area for APs/APm/APl: the ``bbox`` of segm results is dropped before
    ``loadRes`` (otherwise pycocotools takes the box area), as mmdet's CocoMetric and detectron2 do.
  * Ground-truth subsets (an overlap bin, the overlapped objects) follow COCO's area-range rule
    (``SUBSET_RULE``): ground truth outside the subset is ignored, a detection matched to ignored ground
    truth is neither a true nor a false positive, an unmatched detection is a false positive.

No mmdet import here; ``tspsis.models.metric`` wraps this module for mmdet.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import numbers
import os
from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from faster_coco_eval import COCO as FasterCOCO
from faster_coco_eval import COCOeval_faster
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from tqdm import tqdm

from tspsis.data.validate import validate_coco
from tspsis.io import read_json, write_json_atomic
from tspsis.splits import load_manifest
from tspsis.overlap import OVERLAP_BIN_EDGES, annotation_overlaps, overlap_bins

__all__ = [
    "AP_NAMES",
    "BACKENDS",
    "GROUPS",
    "IOU_TYPES",
    "OVERLAPPED_THRESHOLD",
    "SUBSET_RULE",
    "coco_ap",
    "evaluate",
    "evaluate_files",
    "false_positive_attribution",
    "load",
    "load_detections",
    "load_manifest",
]

AP_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl")
GROUPS: tuple[str, ...] = ("unseen", "seen", "all")
IOU_TYPES: tuple[str, ...] = ("segm", "bbox")
BACKENDS: tuple[str, ...] = ("pycocotools", "faster_coco_eval")
OVERLAPPED_THRESHOLD = 0.3  # Table 2: "all testing objects with overlap O >= 0.3"
FP_MATCH_IOU = 0.5  # Fig. 3: a detection is attributed to the ground truth it matches at mask IoU >= 0.5
SUBSET_RULE = ("ground truth outside the subset is ignored (like COCO area ranges): a detection matched to "
               "ignored ground truth is neither TP nor FP; unmatched detections are FP")
FP_RULE = ("detections matched to ground truth as COCOeval does at mask IoU 0.5 (per image and category, "
           "greedy by score, 100 per image); their mask pixels outside the matched mask are attributed to "
           "seen objects if any seen-category ground-truth mask of the image covers them (seen wins over "
           "unseen), else to unseen objects if an unseen-category mask covers them, else to background")


# --------------------------------------------------------------------------------------------- evaluators
class _GroundTruthSubsetMixin:
    """COCOeval that scores only the ground truth whose annotation id is in ``keep_gt_ids``.

    Both backends reset ``ignore`` from ``iscrowd`` in ``_prepare`` and read it afterwards from the same
    annotation dicts, so other ground truth is marked ignored right after ``_prepare``.
    """

    keep_gt_ids: frozenset[int] | None = None

    def _prepare(self) -> None:
        super()._prepare()  # type: ignore[misc]
        if self.keep_gt_ids is None:
            return
        p = self.params  # type: ignore[attr-defined]
        for gt in self.cocoGt.loadAnns(self.cocoGt.getAnnIds(imgIds=p.imgIds, catIds=p.catIds)):  # type: ignore
            gt["ignore"] = int(bool(gt["ignore"]) or gt["id"] not in self.keep_gt_ids)


class SubsetCOCOeval(_GroundTruthSubsetMixin, COCOeval):
    """pycocotools COCOeval with ``keep_gt_ids`` (see ``SUBSET_RULE``)."""


class SubsetCOCOevalFaster(_GroundTruthSubsetMixin, COCOeval_faster):
    """faster_coco_eval COCOeval_faster with ``keep_gt_ids`` (see ``SUBSET_RULE``)."""


_BACKEND_CLASSES: dict[str, tuple[type, type]] = {
    "pycocotools": (COCO, SubsetCOCOeval),
    "faster_coco_eval": (FasterCOCO, SubsetCOCOevalFaster),
}


def _backend(name: str) -> tuple[type, type]:
    if name not in _BACKEND_CLASSES:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    return _BACKEND_CLASSES[name]


def _coco_from_dataset(coco_class: type, dataset: dict) -> Any:
    """COCO API object of ``coco_class`` over ``dataset`` (shared, not copied)."""
    coco = coco_class()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _results_coco(coco_gt: Any, results: list[dict]) -> Any:
    """Result COCO object; an empty result list gives an empty (evaluable) one instead of an IndexError."""
    if not results:
        dataset = {"images": coco_gt.dataset["images"], "categories": coco_gt.dataset["categories"],
                   "annotations": []}
        return _coco_from_dataset(type(coco_gt), dataset)
    with contextlib.redirect_stdout(io.StringIO()):
        return coco_gt.loadRes(results)


def _results_for(iou_type: str, detections: Iterable[dict]) -> list[dict]:
    """Shallow copies of the detections that loadRes may annotate: segm without ``bbox`` (mask area for
    APs/m/l), bbox without ``segmentation``."""
    drop = "bbox" if iou_type == "segm" else "segmentation"
    return [{k: v for k, v in det.items() if k != drop} for det in detections]


def _run_cocoeval(evaluator_class: type, coco_gt: Any, coco_dt: Any, iou_type: str, cat_ids: Sequence[int],
                  keep_gt_ids: Iterable[int] | None = None) -> Any:
    """Run evaluate/accumulate/summarize with ``params.catIds = cat_ids``; returns the evaluator."""
    evaluator = evaluator_class(coco_gt, coco_dt, iou_type)
    evaluator.params.catIds = sorted(int(c) for c in cat_ids)
    evaluator.keep_gt_ids = None if keep_gt_ids is None else frozenset(int(i) for i in keep_gt_ids)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def _ap_record(stats: Sequence[float] | None, reason: str | None = None) -> dict[str, float | None]:
    """{AP, AP50, AP75, APs, APm, APl} in percent from COCOeval.stats[:6]; -1 (no ground truth) -> None."""
    record: dict[str, Any] = {name: None for name in AP_NAMES}
    if stats is not None:
        record.update({name: (100.0 * float(s) if s >= 0 else None) for name, s in zip(AP_NAMES, stats)})
    if record["AP"] is None:
        record["reason"] = reason or "no ground-truth instances"
    return record


def coco_ap(coco_gt: Any, detections: list[dict] | str | os.PathLike, iou_type: str,
            cat_ids: Sequence[int] | None = None, *, keep_gt_ids: Iterable[int] | None = None,
            backend: str = "pycocotools") -> dict[str, float | None]:
    """The six COCO AP numbers (percent) of ``detections`` on categories ``cat_ids`` (default: all).

    coco_gt: COCO-format dict, path, or COCO API object (not modified). keep_gt_ids: score only this
    ground-truth subset (``SUBSET_RULE``). Returns {AP, AP50, AP75, APs, APm, APl} (+ ``reason`` when the
    categories have no scored ground truth).
    """
    coco_class, evaluator_class = _backend(backend)
    dataset, _ = _load_ground_truth(coco_gt)
    results = load_detections(detections, dataset, iou_types=(iou_type,))
    gt = _coco_from_dataset(coco_class, dataset)
    cat_ids = sorted(gt.getCatIds()) if cat_ids is None else cat_ids
    if not cat_ids:
        return _ap_record(None, "no categories")
    evaluator = _run_cocoeval(evaluator_class, gt, _results_coco(gt, _results_for(iou_type, results)),
                              iou_type, cat_ids, keep_gt_ids)
    return _ap_record(evaluator.stats[:6])


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


# ----------------------------------------------------------------------------------------------- scoring
def _non_crowd_ids(dataset: dict, cat_ids: Iterable[int]) -> list[int]:
    wanted = set(cat_ids)
    return [a["id"] for a in dataset["annotations"] if a["category_id"] in wanted and not a.get("iscrowd", 0)]


def _subsets(dataset: dict, unseen_ids: Sequence[int]) -> dict[str, list[int]]:
    """Unseen-category ground-truth subsets: one per Fig. 2 overlap bin ("0.0-0.1", ...) and the Table 2
    overlapped objects ("overlapped": O >= OVERLAPPED_THRESHOLD). O_i is Eq. 1 on the full ground truth."""
    overlaps = annotation_overlaps(dataset)
    ann_ids = _non_crowd_ids(dataset, unseen_ids)
    values = np.array([overlaps[i] for i in ann_ids], dtype=np.float64)
    bins = overlap_bins(values)
    labels = [f"{lo:.1f}-{hi:.1f}" for lo, hi in zip(OVERLAP_BIN_EDGES[:-1], OVERLAP_BIN_EDGES[1:])]
    subsets = {label: [i for i, b in zip(ann_ids, bins) if b == k] for k, label in enumerate(labels)}
    subsets["overlapped"] = [i for i, o in zip(ann_ids, values) if o >= OVERLAPPED_THRESHOLD]
    return subsets


def _score(evaluator_class: type, gt: Any, dt: Any, iou_type: str, cat_ids: Sequence[int],
           num_gt: int, keep_gt_ids: Sequence[int] | None = None) -> dict:
    """AP record (+ num_gt) of one category group or ground-truth subset; no COCOeval run when empty."""
    if not cat_ids:
        return _ap_record(None, "no categories in this group") | {"num_gt": 0}
    if num_gt == 0:
        return _ap_record(None, "no ground-truth instances") | {"num_gt": 0}
    stats = _run_cocoeval(evaluator_class, gt, dt, iou_type, cat_ids, keep_gt_ids).stats[:6]
    return _ap_record(stats) | {"num_gt": num_gt}


def evaluate(coco_gt: Any, detections: list[dict] | str | os.PathLike, manifest: Mapping | str | os.PathLike,
             *, iou_types: Sequence[str] = IOU_TYPES, backend: str = "pycocotools", overlap: bool = True,
             fp_attribution: bool = True) -> dict:
    """Score detections on unseen, seen and all categories (Table 1), per overlap bin and on overlapped
    objects (Fig. 2, Table 2), and attribute false-positive pixels (Fig. 3).

    coco_gt: full ground truth (path, dict or COCO object; not modified). detections: COCO results list or
    path. manifest: split manifest (path or dict) with seen/unseen_category_ids partitioning the GT
    categories. overlap: add the unseen-category overlap subsets (needs GT masks). fp_attribution: add
    ``fp_attribution`` (segm only, pycocotools matching).

    Returns, AP in percent (None where COCOeval has no ground truth; a record without AP has ``reason``):
      {iou_type: {"unseen"|"seen"|"all": {AP, AP50, AP75, APs, APm, APl, num_gt},
                  "unseen_overlap_bins": {"0.0-0.1": {... 6 numbers, num_gt}, ..., "0.9-1.0": {...}},
                  "unseen_overlapped": {"threshold": 0.3, ... 6 numbers, num_gt},
                  "fp_attribution": {"unseen"|"seen"|"all": see false_positive_attribution}  # segm only
                 },
       "meta": {...counts, category ids, backend, conventions}}
    """
    unknown = [t for t in iou_types if t not in IOU_TYPES]
    if unknown or not iou_types:
        raise ValueError(f"iou_types must be a non-empty subset of {IOU_TYPES}, got {list(iou_types)}")
    coco_class, evaluator_class = _backend(backend)
    dataset, gt_source = _load_ground_truth(coco_gt)
    manifest = load_manifest(manifest)
    groups = _category_groups(manifest, dataset, gt_source)
    results = load_detections(detections, dataset, iou_types=iou_types)
    num_gt = {group: len(_non_crowd_ids(dataset, ids)) for group, ids in groups.items()}
    try:
        subsets = _subsets(dataset, groups["unseen"]) if overlap else {}
    except ValueError as err:  # annotation_overlaps names the annotation, not the file
        raise ValueError(f"{gt_source}: {err}") from err
    gt = _coco_from_dataset(coco_class, dataset)

    output: dict[str, Any] = {}
    for iou_type in iou_types:
        dt = _results_coco(gt, _results_for(iou_type, results))
        jobs = [(group, groups[group], num_gt[group], None) for group in GROUPS]
        jobs += [(label, groups["unseen"], len(ids), ids) for label, ids in subsets.items()]
        scores = {name: _score(evaluator_class, gt, dt, iou_type, cat_ids, n, keep)
                  for name, cat_ids, n, keep in tqdm(jobs, desc=f"COCOeval {iou_type}", disable=None)}
        output[iou_type] = {group: scores.pop(group) for group in GROUPS}
        if overlap:
            output[iou_type]["unseen_overlapped"] = {"threshold": OVERLAPPED_THRESHOLD} | scores.pop("overlapped")
            output[iou_type]["unseen_overlap_bins"] = scores
    if fp_attribution and "segm" in iou_types:
        output["segm"]["fp_attribution"] = _fp_attribution_groups(dataset, results, groups)

    output["meta"] = {
        "ground_truth": gt_source,
        "manifest": manifest["_source"],
        "backend": backend,
        "iou_types": list(iou_types),
        "ap_unit": "percent (100 x COCOeval.stats); null where COCOeval reports -1 (no ground truth)",
        "num_images": len(dataset["images"]),
        "num_detections": len(results),
        "num_gt": num_gt,
        "seen_category_ids": groups["seen"],
        "unseen_category_ids": groups["unseen"],
        "segm_area": "mask area (bbox dropped from segm results)",
        "overlap_bin_edges": list(OVERLAP_BIN_EDGES) if overlap else None,
        "overlapped_threshold": OVERLAPPED_THRESHOLD if overlap else None,
        "subset_rule": SUBSET_RULE if overlap else None,
    }
    return output


# ------------------------------------------------------------------------------- false-positive pixels
def _fp_pixel_counts(dataset: dict, results: list[dict], cat_ids: Sequence[int],
                     seen_ids: Iterable[int]) -> tuple[dict[int, np.ndarray], dict[int, int]]:
    """Per category: (background, seen, unseen) false-positive pixel counts (int64 (3,)) and the number of
    matched detections, following ``FP_RULE``."""
    gt = _coco_from_dataset(COCO, dataset)
    dt = _results_coco(gt, _results_for("segm", results))
    evaluator = _run_cocoeval(SubsetCOCOeval, gt, dt, "segm", cat_ids)
    threshold = int(np.flatnonzero(np.isclose(evaluator.params.iouThrs, FP_MATCH_IOU))[0])
    all_areas = evaluator.params.areaRng[0]
    matches: dict[int, list[tuple[int, int]]] = defaultdict(list)  # image id -> [(dt id, gt id)]
    for record in evaluator.evalImgs:
        if record is None or record["aRng"] != all_areas:
            continue
        for dt_id, gt_id, ignored in zip(record["dtIds"], record["dtMatches"][threshold],
                                         record["dtIgnore"][threshold]):
            if gt_id > 0 and not ignored:  # ignored: matched to a crowd region, not an object
                matches[record["image_id"]].append((dt_id, int(gt_id)))

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
        for dt_id, gt_id in pairs:
            false_positive = mask_utils.decode(dt.anns[dt_id]["segmentation"]).astype(bool) & ~masks[gt_id]
            seen = np.count_nonzero(false_positive & on_seen)
            unseen = np.count_nonzero(false_positive & on_unseen)
            category = dt.anns[dt_id]["category_id"]
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
    objects and unseen objects (``FP_RULE``).

    categories: "unseen", "seen" or "all" -- which detections (and matched ground truth) are counted;
    occluders are always every ground-truth mask of the image. Returns {"background": n, "seen": n,
    "unseen": n, "total": n, "fractions": {background, seen, unseen} (None if total is 0),
    "num_matched_detections": n, "categories": ..., "rule": FP_RULE}.
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


# ------------------------------------------------------------------------------------------------ files
def evaluate_files(gt_path: str | os.PathLike, dt_path: str | os.PathLike,
                   manifest_path: str | os.PathLike, out_path: str | os.PathLike | None = None,
                   **kwargs: Any) -> dict:
    """``evaluate`` on files (full GT JSON, COCO results JSON, split manifest); writes the metrics JSON
    atomically to ``out_path`` when given. kwargs go to ``evaluate``. Returns the metrics dict."""
    metrics = evaluate(gt_path, dt_path, manifest_path, **kwargs)
    metrics["meta"]["detections"] = str(dt_path)
    if out_path is not None:
        write_json_atomic(out_path, metrics, indent=2)
    return metrics


def load(path: str | os.PathLike) -> dict:
    """A metrics JSON written by ``evaluate_files`` (or the mmdet metric's ``<prefix>.metrics.json``)."""
    metrics = read_json(path, "metrics")
    if not isinstance(metrics, dict) or "meta" not in metrics:
        raise ValueError(f"{path}: not a tspsis metrics file (field 'meta' is missing)")
    return metrics


def format_metrics(metrics: dict) -> str:
    """A plain-text table: one row per IoU type and category group, the six COCO numbers in percent."""
    rows = [f"{'':<6} {'group':<18}" + "".join(f"{name:>7}" for name in AP_NAMES)]
    for iou_type in IOU_TYPES:
        for group in (*GROUPS, "unseen_overlapped"):
            record = metrics.get(iou_type, {}).get(group)
            if record is None:
                continue
            cells = "".join(f"{record[n]:7.1f}" if record.get(n) is not None else f"{'-':>7}" for n in AP_NAMES)
            rows.append(f"{iou_type:<6} {group:<18}{cells}")
    return "\n".join(rows)
