"""Partially supervised evaluation: COCO AP on unseen / seen / all categories (Table 1), AP per object
overlap bin (Fig. 2) and on overlapped objects O >= 0.3 (Table 2), false-positive pixel attribution
(Sec. 3.2, Fig. 3), and the score-independent mean mask IoU of the box-conditioned track.

Conventions
  * AP numbers are in percent: 100 x pycocotools' ``COCOeval.stats[:6]`` (AP, AP50, AP75, APs, APm, APl),
    standard COCO parameters (IoU .50:.05:.95, 101 recall points, 100 detections per image). A number
    COCOeval reports as -1 (no ground truth, e.g. no small objects) is ``None``.
  * A group of categories is scored exactly like COCOeval with ``params.catIds`` set to that group.
  * "segm" uses the mask area for APs/APm/APl: the ``bbox`` of segm results is dropped before
    ``loadRes`` (otherwise pycocotools takes the box area), as mmdet's CocoMetric and detectron2 do.
  * Ground-truth subsets (an overlap bin, the overlapped objects) follow COCO's area-range rule on both
    sides (``SUBSET_RULE``): ground truth outside the subset is ignored, a detection matched to ignored
    ground truth is neither a true nor a false positive, and an unmatched detection is a false positive
    only if the detection itself lies in the subset. A detection's own O is the O (Eq. 1) of the
    same-category ground truth its box overlaps most (box IoU), or Eq. 1 on its own box against the
    image's ground-truth masks when its box overlaps none (``DETECTION_OVERLAP_RULE``,
    ``detection_overlaps``). Without the detection side, detections of objects outside the subset become
    high-scoring false positives inside it.
  * False-positive attribution matches detections to ground truth by *box* IoU >= 0.5 (``FP_RULE``): the
    failure Fig. 3 measures -- a mask spilling onto an overlapping neighbour -- pushes the mask IoU below
    0.5 while the box stays right.
  * Mean mask IoU (``mask_iou_by_overlap``, ``MASK_IOU_RULE``) pairs every ground-truth instance with the
    detection of the same box; it needs no score and is meant for mask heads run on ground-truth boxes.

No mmdet import here; ``tspsis.models.metric`` wraps this module for mmdet.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
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
from tspsis.overlap import (OVERLAP_BIN_EDGES, annotation_overlaps, box_pixel_ranges, decode_segmentation,
                            overlap_bins)

__all__ = [
    "AP_NAMES",
    "BACKENDS",
    "DETECTION_OVERLAP_RULE",
    "FP_RULE",
    "GROUPS",
    "IOU_TYPES",
    "MASK_IOU_MIN_BOX_IOU",
    "MASK_IOU_RULE",
    "OVERLAPPED_THRESHOLD",
    "SUBSET_RULE",
    "coco_ap",
    "detection_overlaps",
    "evaluate",
    "evaluate_files",
    "false_positive_attribution",
    "load",
    "load_detections",
    "load_manifest",
    "mask_iou_by_overlap",
]

AP_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl")
GROUPS: tuple[str, ...] = ("unseen", "seen", "all")
IOU_TYPES: tuple[str, ...] = ("segm", "bbox")
BACKENDS: tuple[str, ...] = ("pycocotools", "faster_coco_eval")
OVERLAPPED_THRESHOLD = 0.3  # Table 2: "all testing objects with overlap O >= 0.3"
FP_MATCH_IOU = 0.5  # Fig. 3: a detection is attributed to the ground truth it matches at box IoU >= 0.5
MASK_IOU_MIN_BOX_IOU = 0.9  # box-conditioned track: a detection pairs with a ground truth of (almost) its box
SUBSET_RULE = ("ground truth outside the subset is ignored and so are unmatched detections outside it (like COCO "
               "area ranges): a detection matched to ignored ground truth is neither TP nor FP; an unmatched "
               "detection is FP if its own O (DETECTION_OVERLAP_RULE) is in the subset, else ignored")
DETECTION_OVERLAP_RULE = ("a detection's O is the O (Eq. 1) of the non-crowd ground truth of its image and "
                          "category whose box has the highest IoU with the detection's box (bbox for bbox AP, the "
                          "mask's tight box for segm AP); when its box overlaps none of them, Eq. 1 on the "
                          "detection's box against every ground-truth mask of the image")
FP_RULE = ("detections matched to ground truth as COCOeval does at box IoU 0.5 (per image and category, greedy "
           "by score, 100 per image; the detection's bbox, or its mask's tight box when it has none), so masks "
           "that spill onto a neighbour are counted even when their mask IoU is below 0.5; their mask pixels "
           "outside the matched mask are attributed to seen objects if any seen-category ground-truth mask of "
           "the image covers them (seen wins over unseen), else to unseen objects if an unseen-category mask "
           "covers them, else to background")
MASK_IOU_RULE = ("each non-crowd ground-truth instance is paired with at most one detection of its image and "
                 "category, one-to-one and greedily in decreasing box IoU (ties: higher mask IoU), among pairs "
                 "with box IoU >= min_box_iou; mIoU = 100 x mean mask IoU over the ground truth, an unpaired "
                 "instance counting 0 (and counted in 'missing'); scores are not used; bins are by the ground "
                 "truth's O (Eq. 1)")


# --------------------------------------------------------------------------------------------- evaluators
class _GroundTruthSubsetMixin:
    """COCOeval that scores only the ground truth whose annotation id is in ``keep_gt_ids`` and, when
    ``keep_dt_ids`` is set, counts an unmatched detection as a false positive only if its id is in
    ``keep_dt_ids`` (``SUBSET_RULE``).

    Both backends reset ``ignore`` from ``iscrowd`` in ``_prepare`` and read it afterwards from the same
    annotation dicts, so other ground truth is marked ignored right after ``_prepare``. The detection side
    reuses COCO's area-range rule (an unmatched detection whose area is outside the range is ignored), which
    both backends apply in ``evaluate``: the detections outside the subset get an area below every range
    (-1) for the duration of ``evaluate`` and their areas are restored afterwards. A detection's area only
    matters when it is unmatched, so matched detections score exactly as before.
    """

    keep_gt_ids: frozenset[int] | None = None
    keep_dt_ids: frozenset[int] | None = None

    def _prepare(self) -> None:
        super()._prepare()  # type: ignore[misc]
        if self.keep_gt_ids is None:
            return
        p = self.params  # type: ignore[attr-defined]
        for gt in self.cocoGt.loadAnns(self.cocoGt.getAnnIds(imgIds=p.imgIds, catIds=p.catIds)):  # type: ignore
            gt["ignore"] = int(bool(gt["ignore"]) or gt["id"] not in self.keep_gt_ids)

    def evaluate(self) -> None:
        if self.keep_dt_ids is None:
            super().evaluate()  # type: ignore[misc]
            return
        outside = [dt for dt in self.cocoDt.anns.values() if dt["id"] not in self.keep_dt_ids]  # type: ignore
        areas = [dt["area"] for dt in outside]
        try:
            for dt in outside:
                dt["area"] = -1.0
            super().evaluate()  # type: ignore[misc]
        finally:
            for dt, area in zip(outside, areas):
                dt["area"] = area


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
                  keep_gt_ids: Iterable[int] | None = None, keep_dt_ids: Iterable[int] | None = None) -> Any:
    """Run evaluate/accumulate/summarize with ``params.catIds = cat_ids``; returns the evaluator.
    keep_gt_ids / keep_dt_ids: the subset (``SUBSET_RULE``); keep_dt_ids are ids of ``coco_dt``."""
    evaluator = evaluator_class(coco_gt, coco_dt, iou_type)
    evaluator.params.catIds = sorted(int(c) for c in cat_ids)
    evaluator.keep_gt_ids = None if keep_gt_ids is None else frozenset(int(i) for i in keep_gt_ids)
    evaluator.keep_dt_ids = None if keep_dt_ids is None else frozenset(int(i) for i in keep_dt_ids)
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
            keep_dt_indices: Iterable[int] | None = None, backend: str = "pycocotools") -> dict[str, float | None]:
    """The six COCO AP numbers (percent) of ``detections`` on categories ``cat_ids`` (default: all).

    coco_gt: COCO-format dict, path, or COCO API object (not modified). keep_gt_ids: score only this
    ground-truth subset. keep_dt_indices: positions in ``detections`` of the detections inside the subset;
    an unmatched detection elsewhere is ignored instead of being a false positive (``SUBSET_RULE``; None:
    every unmatched detection is a false positive). Returns {AP, AP50, AP75, APs, APm, APl} (+ ``reason``
    when the categories have no scored ground truth).
    """
    coco_class, evaluator_class = _backend(backend)
    dataset, _ = _load_ground_truth(coco_gt)
    results = load_detections(detections, dataset, iou_types=(iou_type,))
    gt = _coco_from_dataset(coco_class, dataset)
    cat_ids = sorted(gt.getCatIds()) if cat_ids is None else cat_ids
    if not cat_ids:
        return _ap_record(None, "no categories")
    dt = _results_coco(gt, _results_for(iou_type, results))
    keep_dt_ids = None
    if keep_dt_indices is not None:  # loadRes numbers results 1..N in list order
        keep_dt_ids = [dt.dataset["annotations"][int(k)]["id"] for k in keep_dt_indices]
    evaluator = _run_cocoeval(evaluator_class, gt, dt, iou_type, cat_ids, keep_gt_ids, keep_dt_ids)
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


def _score(evaluator_class: type, gt: Any, dt: Any, iou_type: str, cat_ids: Sequence[int],
           num_gt: int, keep_gt_ids: Sequence[int] | None = None,
           keep_dt_ids: Sequence[int] | None = None) -> dict:
    """AP record (+ num_gt) of one category group or ground-truth subset; no COCOeval run when empty."""
    if not cat_ids:
        return _ap_record(None, "no categories in this group") | {"num_gt": 0}
    if num_gt == 0:
        return _ap_record(None, "no ground-truth instances") | {"num_gt": 0}
    stats = _run_cocoeval(evaluator_class, gt, dt, iou_type, cat_ids, keep_gt_ids, keep_dt_ids).stats[:6]
    return _ap_record(stats) | {"num_gt": num_gt}


def evaluate(coco_gt: Any, detections: list[dict] | str | os.PathLike, manifest: Mapping | str | os.PathLike,
             *, iou_types: Sequence[str] = IOU_TYPES, backend: str = "pycocotools", overlap: bool = True,
             fp_attribution: bool = True, mask_iou: bool = False) -> dict:
    """Score detections on unseen, seen and all categories (Table 1), per overlap bin and on overlapped
    objects (Fig. 2, Table 2), attribute false-positive pixels (Fig. 3), and (box-conditioned track) the
    mean mask IoU.

    coco_gt: full ground truth (path, dict or COCO object; not modified). detections: COCO results list or
    path. manifest: split manifest (path or dict) with seen/unseen_category_ids partitioning the GT
    categories. overlap: add the unseen-category overlap subsets (needs GT masks; ``SUBSET_RULE``: unmatched
    detections outside a subset are ignored in it). fp_attribution: add ``fp_attribution`` (segm only,
    pycocotools matching at box IoU 0.5, ``FP_RULE``). mask_iou: add ``mask_iou`` (segm only,
    ``mask_iou_by_overlap`` with the default bins; meant for detections that are the ground-truth boxes).

    Returns, AP in percent (None where COCOeval has no ground truth; a record without AP has ``reason``):
      {iou_type: {"unseen"|"seen"|"all": {AP, AP50, AP75, APs, APm, APl, num_gt},
                  "unseen_overlap_bins": {"0.0-0.1": {... 6 numbers, num_gt}, ..., "0.9-1.0": {...}},
                  "unseen_overlapped": {"threshold": 0.3, ... 6 numbers, num_gt},
                  "fp_attribution": {"unseen"|"seen"|"all": see false_positive_attribution},  # segm only
                  "mask_iou": see mask_iou_by_overlap  # segm only, when mask_iou
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
    mask_iou = mask_iou and "segm" in iou_types
    overlaps = _ground_truth_overlaps(dataset, gt_source) if overlap or mask_iou else {}
    subsets = _subsets(dataset, groups["unseen"], overlaps) if overlap else {}
    gt = _coco_from_dataset(coco_class, dataset)

    output: dict[str, Any] = {}
    for iou_type in iou_types:
        dt = _results_coco(gt, _results_for(iou_type, results))
        dt_subsets = _detection_subsets(dataset, dt, groups["unseen"], overlaps) if overlap else {}
        jobs = [(group, groups[group], num_gt[group], None, None) for group in GROUPS]
        jobs += [(label, groups["unseen"], len(ids), ids, dt_subsets[label]) for label, ids in subsets.items()]
        scores = {name: _score(evaluator_class, gt, dt, iou_type, cat_ids, n, keep_gt, keep_dt)
                  for name, cat_ids, n, keep_gt, keep_dt in tqdm(jobs, desc=f"COCOeval {iou_type}", disable=None)}
        output[iou_type] = {group: scores.pop(group) for group in GROUPS}
        if overlap:
            output[iou_type]["unseen_overlapped"] = {"threshold": OVERLAPPED_THRESHOLD} | scores.pop("overlapped")
            output[iou_type]["unseen_overlap_bins"] = scores
    if fp_attribution and "segm" in iou_types:
        output["segm"]["fp_attribution"] = _fp_attribution_groups(dataset, results, groups)
    if mask_iou:
        output["segm"]["mask_iou"] = _mask_iou_groups(dataset, results, groups, OVERLAP_BIN_EDGES,
                                                      MASK_IOU_MIN_BOX_IOU, overlaps)

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
        "detection_overlap_rule": DETECTION_OVERLAP_RULE if overlap else None,
    }
    return output


# --------------------------------------------------------------------------------- detection overlap
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


def _box_mask_overlap(boxes: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Eq. 1 of boxes that are not ground truth: max_j |b_n ∩ s_j| / |b_n| over all masks j, with the pixel
    rule of ``tspsis.overlap`` (pixel centres, half-open boxes, clipped to [0, 1]; 0 for a box without area).

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
