"""The evaluation layer (no mmdet): COCO AP on unseen / seen / all categories (Table 1), AP per object-overlap bin
(Fig. 2) and on overlapped objects O >= 0.3 (Table 2), false-positive pixel attribution (Sec. 3.2, Fig. 3) and the
score-independent mean mask IoU of the box-conditioned track. ``tspsis.plugin.metrics`` wraps it for mmdet.

Modules, by concern: ``rules`` (constants and the rules stored in every metrics file), ``loading`` (ground truth,
manifest groups, detections), ``coco_subset`` (COCOeval restricted to a ground-truth subset, ``coco_ap``),
``overlap_subsets`` (O of ground truth and detections, the subsets), ``fp_attribution``, ``mask_iou`` and
``evaluate`` (``evaluate``: all of them, step by step; ``evaluate_files``, ``load``, ``format_metrics``).
"""
from tspsis.core.splits import load_manifest
from tspsis.eval.coco_subset import SubsetCOCOeval, SubsetCOCOevalFaster, coco_ap
from tspsis.eval.evaluate import evaluate, evaluate_files, format_metrics, load
from tspsis.eval.fp_attribution import false_positive_attribution
from tspsis.eval.loading import load_detections
from tspsis.eval.mask_iou import mask_iou_by_overlap
from tspsis.eval.overlap_subsets import detection_overlaps
from tspsis.eval.rules import (AP_NAMES, BACKENDS, DETECTION_OVERLAP_RULE, FP_MATCH_IOU, FP_RULE, GROUPS, IOU_TYPES,
                               MASK_IOU_MIN_BOX_IOU, MASK_IOU_RULE, OVERLAPPED_THRESHOLD, SUBSET_RULE)

__all__ = [
    "AP_NAMES", "BACKENDS", "DETECTION_OVERLAP_RULE", "FP_MATCH_IOU", "FP_RULE", "GROUPS", "IOU_TYPES",
    "MASK_IOU_MIN_BOX_IOU", "MASK_IOU_RULE", "OVERLAPPED_THRESHOLD", "SUBSET_RULE", "SubsetCOCOeval",
    "SubsetCOCOevalFaster", "coco_ap", "detection_overlaps", "evaluate", "evaluate_files", "false_positive_attribution",
    "format_metrics", "load", "load_detections", "load_manifest", "mask_iou_by_overlap",
]
