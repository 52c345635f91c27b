"""``evaluate``: every number of a run's metrics file, from the ground truth, the detections and the split manifest
(the steps: load, score each IoU type on the groups and subsets, attribute false positives, mean mask IoU, meta);
and the file-level helpers of ``tspsis eval``."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from tqdm import tqdm

from tspsis.core.io import read_json, write_json_atomic
from tspsis.core.overlap import OVERLAP_BIN_EDGES
from tspsis.core.splits import load_manifest
from tspsis.eval.rules import (AP_NAMES, DETECTION_OVERLAP_RULE, GROUPS, IOU_TYPES, MASK_IOU_MIN_BOX_IOU,
                               OVERLAPPED_THRESHOLD, SUBSET_RULE)
from tspsis.eval.loading import _category_groups, _load_ground_truth, _non_crowd_ids, load_detections
from tspsis.eval.coco_subset import _backend, _coco_from_dataset, _results_coco, _results_for, _score
from tspsis.eval.overlap_subsets import _detection_subsets, _ground_truth_overlaps, _subsets
from tspsis.eval.fp_attribution import _fp_attribution_groups
from tspsis.eval.mask_iou import _mask_iou_groups


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
    _check_iou_types(iou_types)
    coco_class, evaluator_class = _backend(backend)
    data = _load_inputs(coco_gt, detections, manifest, iou_types, overlap, mask_iou)
    gt = _coco_from_dataset(coco_class, data.dataset)

    output: dict[str, Any] = {}
    for iou_type in iou_types:
        output[iou_type] = _score_iou_type(data, gt, evaluator_class, iou_type, overlap)
    if fp_attribution and "segm" in iou_types:
        output["segm"]["fp_attribution"] = _fp_attribution_groups(data.dataset, data.results, data.groups)
    if data.mask_iou:
        output["segm"]["mask_iou"] = _mask_iou_groups(data.dataset, data.results, data.groups, OVERLAP_BIN_EDGES,
                                                      MASK_IOU_MIN_BOX_IOU, data.overlaps)
    output["meta"] = _meta(data, backend, iou_types, overlap)
    return output


@dataclass
class _Inputs:
    """What ``evaluate`` scores, loaded and checked once: the ground truth (``dataset``, named ``gt_source`` in
    errors), the manifest and its category groups, the detections, the ground-truth counts per group, O (Eq. 1) of
    every annotation (when needed) and the unseen-category overlap subsets."""

    dataset: dict
    gt_source: str
    manifest: dict
    groups: dict[str, list[int]]
    results: list[dict]
    num_gt: dict[str, int]
    mask_iou: bool
    overlaps: Mapping[int, float]
    subsets: dict[str, list[int]]


def _check_iou_types(iou_types: Sequence[str]) -> None:
    unknown = [t for t in iou_types if t not in IOU_TYPES]
    if unknown or not iou_types:
        raise ValueError(f"iou_types must be a non-empty subset of {IOU_TYPES}, got {list(iou_types)}")


def _load_inputs(coco_gt: Any, detections: list[dict] | str | os.PathLike, manifest: Mapping | str | os.PathLike,
                 iou_types: Sequence[str], overlap: bool, mask_iou: bool) -> _Inputs:
    """Step 1 of ``evaluate``: load and check the ground truth, manifest and detections; overlaps and subsets."""
    dataset, gt_source = _load_ground_truth(coco_gt)
    manifest = load_manifest(manifest)
    groups = _category_groups(manifest, dataset, gt_source)
    results = load_detections(detections, dataset, iou_types=iou_types)
    num_gt = {group: len(_non_crowd_ids(dataset, ids)) for group, ids in groups.items()}
    mask_iou = mask_iou and "segm" in iou_types
    overlaps = _ground_truth_overlaps(dataset, gt_source) if overlap or mask_iou else {}
    subsets = _subsets(dataset, groups["unseen"], overlaps) if overlap else {}
    return _Inputs(dataset, gt_source, manifest, groups, results, num_gt, mask_iou, overlaps, subsets)


def _score_iou_type(data: _Inputs, gt: Any, evaluator_class: type, iou_type: str, overlap: bool) -> dict:
    """Step 2 of ``evaluate``, per IoU type: AP of the category groups (Table 1) and of the unseen-category overlap
    subsets on both sides (Fig. 2's bins, Table 2's overlapped objects; ``SUBSET_RULE``)."""
    dt = _results_coco(gt, _results_for(iou_type, data.results))
    dt_subsets = _detection_subsets(data.dataset, dt, data.groups["unseen"], data.overlaps) if overlap else {}
    jobs = [(group, data.groups[group], data.num_gt[group], None, None) for group in GROUPS]
    jobs += [(label, data.groups["unseen"], len(ids), ids, dt_subsets[label]) for label, ids in data.subsets.items()]
    scores = {name: _score(evaluator_class, gt, dt, iou_type, cat_ids, n, keep_gt, keep_dt)
              for name, cat_ids, n, keep_gt, keep_dt in tqdm(jobs, desc=f"COCOeval {iou_type}", disable=None)}
    record = {group: scores.pop(group) for group in GROUPS}
    if overlap:
        record["unseen_overlapped"] = {"threshold": OVERLAPPED_THRESHOLD} | scores.pop("overlapped")
        record["unseen_overlap_bins"] = scores
    return record


def _meta(data: _Inputs, backend: str, iou_types: Sequence[str], overlap: bool) -> dict:
    """The last step of ``evaluate``: what was scored and by which rules (stored in every metrics file)."""
    return {
        "ground_truth": data.gt_source,
        "manifest": data.manifest["_source"],
        "backend": backend,
        "iou_types": list(iou_types),
        "ap_unit": "percent (100 x COCOeval.stats); null where COCOeval reports -1 (no ground truth)",
        "num_images": len(data.dataset["images"]),
        "num_detections": len(data.results),
        "num_gt": data.num_gt,
        "seen_category_ids": data.groups["seen"],
        "unseen_category_ids": data.groups["unseen"],
        "segm_area": "mask area (bbox dropped from segm results)",
        "overlap_bin_edges": list(OVERLAP_BIN_EDGES) if overlap else None,
        "overlapped_threshold": OVERLAPPED_THRESHOLD if overlap else None,
        "subset_rule": SUBSET_RULE if overlap else None,
        "detection_overlap_rule": DETECTION_OVERLAP_RULE if overlap else None,
    }




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
