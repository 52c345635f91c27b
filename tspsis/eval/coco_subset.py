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

No mmdet import here; ``tspsis.plugin.metrics.partial_coco_metric`` wraps this module for mmdet."""
from __future__ import annotations

import contextlib
import io
import os
from typing import Any, Iterable, Sequence

from faster_coco_eval import COCO as FasterCOCO
from faster_coco_eval import COCOeval_faster
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tspsis.eval.rules import AP_NAMES, BACKENDS
from tspsis.eval.loading import _load_ground_truth, load_detections


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
