"""mmdet evaluator for partially supervised instance segmentation: COCO AP on unseen / seen / all categories
(Table 1) and, when switched on, on overlapped unseen objects (Table 2) and per overlap bin (Fig. 2),
false-positive pixel attribution (Fig. 3) and the box-conditioned track's mean mask IoU, computed by
``tspsis.eval``.

Config (the extras decode every mask, so they are off by default; switch them on for the final test)::

    val_evaluator = dict(type='PartialCocoMetric', ann_file='data/coco/annotations/instances_val2017.json',
                         manifest='data/coco/annotations/train_voc.manifest.json', metric=['bbox', 'segm'])
    test_evaluator = dict(val_evaluator, overlap_bins=True, fp_attribution=True)
"""

from __future__ import annotations

import math
import os.path as osp
import tempfile
import warnings
from typing import Any, Sequence

from mmengine.fileio import load as load_json
from mmengine.logging import MMLogger

from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS
from tspsis.eval import AP_NAMES, GROUPS, IOU_TYPES, evaluate, load_manifest
from tspsis.core.io import write_json_atomic

__all__ = ["PartialCocoMetric"]

FLAT_RECORDS: tuple[str, ...] = GROUPS + ("unseen_overlapped",)
FLAT_MASK_IOU: tuple[tuple[str, tuple[str, ...]], ...] = (
    tuple((group, (group,)) for group in GROUPS) + (("unseen_overlapped", ("unseen", "overlapped")),))


@METRICS.register_module()
class PartialCocoMetric(CocoMetric):
    """CocoMetric scored per category group of a seen/unseen split.

    Predictions are converted to COCO results with CocoMetric's ``process`` and ``results2json`` and scored
    with ``tspsis.eval.evaluate`` on the full ground truth ``ann_file`` (which must hold masks of every
    category). Returned keys (prefixed ``coco/`` by mmengine), AP in percent, NaN where undefined:
    ``{iou}_{group}_{AP|AP50|AP75|APs|APm|APl}`` for iou in ``metric`` and group in unseen, seen, all, and
    unseen_overlapped when ``overlap_bins``; with ``mask_iou`` also ``segm_{unseen|seen|all|unseen_overlapped}
    _mIoU`` (percent). The full nested result (overlap bins under ``{iou}.unseen_overlap_bins``, false-positive
    attribution under ``segm.fp_attribution``, mean mask IoU under ``segm.mask_iou``, meta) is written to
    ``<outfile_prefix>.metrics.json`` when ``outfile_prefix`` is given.

    Args:
        ann_file: full COCO-format ground truth (every instance with a mask).
        manifest: split manifest (``tspsis split``) with seen/unseen_category_ids.
        metric: "bbox", "segm" or both.
        backend: "pycocotools" or "faster_coco_eval".
        overlap_bins: also score the unseen overlap subsets, Fig. 2's bins and Table 2's O >= 0.3 (decodes
            every ground-truth mask; ``tspsis.eval.SUBSET_RULE``). Default False.
        fp_attribution: also attribute false-positive mask pixels (Fig. 3; segm only; decodes the masks of
            every matched detection; ``FP_RULE``). Default False.
        mask_iou: also the score-independent mean mask IoU per group and overlap bin (segm only; for the
            box-conditioned track, whose detections are the ground-truth boxes; ``MASK_IOU_RULE``).
            Default False.
        overlap: deprecated name of ``overlap_bins``.
        outfile_prefix, format_only, backend_args, collect_device, prefix: as in CocoMetric.
    """

    default_prefix: str | None = "coco"

    def __init__(self, ann_file: str, manifest: str, metric: str | Sequence[str] = ("bbox", "segm"), *,
                 backend: str = "pycocotools", overlap_bins: bool = False, fp_attribution: bool = False,
                 mask_iou: bool = False, overlap: bool | None = None, outfile_prefix: str | None = None,
                 format_only: bool = False, backend_args: dict | None = None, collect_device: str = "cpu",
                 prefix: str | None = None) -> None:
        metrics = [metric] if isinstance(metric, str) else list(metric)
        unsupported = [m for m in metrics if m not in IOU_TYPES]
        if unsupported or not metrics:
            raise ValueError(f"PartialCocoMetric: field 'metric' must be a non-empty subset of {IOU_TYPES}, "
                             f"got {metrics}")
        if ann_file is None:
            raise ValueError("PartialCocoMetric: field 'ann_file' is required (the full ground truth)")
        if overlap is not None:
            warnings.warn("PartialCocoMetric: field 'overlap' is deprecated, use 'overlap_bins'", DeprecationWarning,
                          stacklevel=2)
            if overlap_bins and not overlap:
                raise ValueError("PartialCocoMetric: fields 'overlap' and 'overlap_bins' disagree")
            overlap_bins = bool(overlap)
        for name, value in (("overlap_bins", overlap_bins), ("fp_attribution", fp_attribution),
                            ("mask_iou", mask_iou)):
            if not isinstance(value, bool):
                raise ValueError(f"PartialCocoMetric: field '{name}' must be True or False, got {value!r}")
        if mask_iou and "segm" not in metrics:
            raise ValueError("PartialCocoMetric: field 'mask_iou' needs 'segm' in field 'metric'")
        super().__init__(ann_file=ann_file, metric=metrics, outfile_prefix=outfile_prefix,
                         format_only=format_only, backend_args=backend_args, collect_device=collect_device,
                         prefix=prefix)
        self.ann_file = ann_file
        self.manifest = load_manifest(manifest)
        self.eval_kwargs: dict[str, Any] = dict(backend=backend, overlap=overlap_bins, fp_attribution=fp_attribution,
                                                mask_iou=mask_iou)

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Score the processed (gt, prediction) pairs; returns the flat metrics (see class docstring)."""
        logger = MMLogger.get_current_instance()
        _, preds = zip(*results)
        tmp_dir = tempfile.TemporaryDirectory() if self.outfile_prefix is None else None
        outfile_prefix = osp.join(tmp_dir.name, "results") if tmp_dir else self.outfile_prefix
        if self.cat_ids is None:
            self.cat_ids = self._coco_api.get_cat_ids(cat_names=self.dataset_meta["classes"])
        if self.img_ids is None:
            self.img_ids = self._coco_api.get_img_ids()
        result_files = self.results2json(preds, outfile_prefix)
        if self.format_only:
            logger.info(f"results are saved in {osp.dirname(outfile_prefix)}")
            return {}

        if "segm" in self.metrics and "segm" not in result_files:
            raise ValueError("PartialCocoMetric: metric 'segm' needs pred_instances.masks in the predictions")
        # segm results carry the bbox results' boxes and scores unless a mask score differs: one call then
        # scores both (the overlap subsets are computed once)
        if "segm" in result_files and not any("mask_scores" in pred for pred in preds):
            calls = [(tuple(self.metrics), result_files["segm"])]
        else:
            calls = [((iou_type,), result_files[iou_type]) for iou_type in self.metrics]
        nested: dict[str, Any] = {}
        for iou_types, path in calls:
            scored = evaluate(self._coco_api, load_json(path), self.manifest, iou_types=iou_types,
                              **self.eval_kwargs)
            meta = scored.pop("meta")
            nested.update(scored)
        meta.update(ground_truth=self.ann_file, iou_types=list(self.metrics),
                    detections=[result_files[t] for t in self.metrics] if tmp_dir is None else None)
        nested["meta"] = meta
        if self.outfile_prefix is not None:
            write_json_atomic(f"{self.outfile_prefix}.metrics.json", nested, indent=2)
        if tmp_dir is not None:
            tmp_dir.cleanup()

        flat: dict[str, float] = {}
        for iou_type in self.metrics:
            for record in FLAT_RECORDS:
                values = nested[iou_type].get(record)
                if values is None:  # overlap_bins=False
                    continue
                numbers = [math.nan if values[name] is None else values[name] for name in AP_NAMES]
                flat.update({f"{iou_type}_{record}_{name}": n for name, n in zip(AP_NAMES, numbers)})
                logger.info(f"{iou_type}_{record}_AP_copypaste: " + " ".join(f"{n:.1f}" for n in numbers))
        mask_iou = nested.get("segm", {}).get("mask_iou")
        if mask_iou is not None:
            for name, path in FLAT_MASK_IOU:
                record = mask_iou
                for key in path:
                    record = record[key]
                flat[f"segm_{name}_mIoU"] = math.nan if record["mIoU"] is None else record["mIoU"]
            logger.info("segm_mIoU unseen / seen / all / unseen_overlapped: "
                        + " ".join(f"{flat[f'segm_{name}_mIoU']:.1f}" for name, _ in FLAT_MASK_IOU))
        return flat
