"""Figs. 1, 6 and 7: masks predicted by trained models, drawn on validation images.

Predictions come from the COCO results a finished run leaves behind (``WORK_DIR/test.segm.json``, written by
``PartialCocoMetric`` with ``outfile_prefix = WORK_DIR/test``), so no model is rebuilt here. Objects are picked
by their overlap O (Eq. 1) on the full validation ground truth.
"""
from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .io import read_json
from .overlap import decode_segmentation

__all__ = ["detections_by_image", "draw_image_grid", "draw_object_grid", "match_detection", "object_ious",
           "pick_objects"]

_COLOURS = np.array([[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240],
                     [240, 50, 230], [210, 245, 60], [0, 128, 128], [170, 110, 40]], dtype=np.float64) / 255


def detections_by_image(path: str | os.PathLike, min_score: float = 0.0) -> dict[int, list[dict]]:
    """COCO segm results (a run's ``test.segm.json``) grouped by image id, best score first."""
    grouped: dict[int, list[dict]] = defaultdict(list)
    for det in read_json(path, "detections"):
        if det["score"] >= min_score:
            grouped[det["image_id"]].append(det)
    return {k: sorted(v, key=lambda d: -d["score"]) for k, v in grouped.items()}


def pick_objects(dataset: Mapping, category_ids: Sequence[int], overlaps: Mapping[int, float], count: int, *,
                 min_overlap: float = 0.0, max_overlap: float = 1.0, min_area: float = 300.0,
                 most_overlapped: bool = True) -> list[dict]:
    """Up to ``count`` ground-truth objects of ``category_ids`` with min_overlap <= O <= max_overlap and
    area >= min_area, one per image, sorted by O (highest first unless ``most_overlapped`` is False)."""
    wanted = set(category_ids)
    candidates = [a for a in dataset["annotations"] if a["category_id"] in wanted and not a.get("iscrowd", 0)
                  and a["area"] >= min_area and min_overlap <= overlaps[a["id"]] <= max_overlap]
    candidates.sort(key=lambda a: (-overlaps[a["id"]] if most_overlapped else overlaps[a["id"]], -a["area"]))
    picked, images = [], set()
    for ann in candidates:
        if ann["image_id"] not in images:
            picked.append(ann)
            images.add(ann["image_id"])
        if len(picked) == count:
            break
    return picked


def _mask(segmentation, height: int, width: int) -> np.ndarray:
    return decode_segmentation(segmentation, height, width)


def match_detection(detections: Sequence[dict], ann: Mapping, height: int, width: int) -> tuple[dict | None, float]:
    """The detection of ``ann``'s category with the highest mask IoU with it, and that IoU (None, 0.0 if none)."""
    gt = _mask(ann["segmentation"], height, width)
    best, best_iou = None, 0.0
    for det in detections:
        if det["category_id"] != ann["category_id"]:
            continue
        pred = _mask(det["segmentation"], height, width)
        union = np.logical_or(pred, gt).sum()
        iou = float(np.logical_and(pred, gt).sum() / union) if union else 0.0
        if iou > best_iou:
            best, best_iou = det, iou
    return best, best_iou


def object_ious(dataset: Mapping, objects: Sequence[Mapping],
                models: Mapping[str, Mapping[int, list[dict]]]) -> dict[str, list[float]]:
    """{model label: mask IoU of the best-matching detection (``match_detection``) for each object}."""
    images = {img["id"]: img for img in dataset["images"]}
    return {label: [match_detection(by_image.get(a["image_id"], []), a, images[a["image_id"]]["height"],
                                    images[a["image_id"]]["width"])[1] for a in objects]
            for label, by_image in models.items()}


def _overlay(image: np.ndarray, masks: Sequence[np.ndarray], alpha: float = 0.5) -> np.ndarray:
    """image (H, W, 3) float in [0, 1] with each (H, W) bool mask tinted in its own colour."""
    out = image.copy()
    for k, mask in enumerate(masks):
        out[mask] = (1 - alpha) * out[mask] + alpha * _COLOURS[k % len(_COLOURS)]
    return out


def _load_image(image_dir: Path, image: Mapping) -> np.ndarray:
    import matplotlib.pyplot as plt

    pixels = plt.imread(image_dir / image["file_name"])[..., :3]
    return pixels.astype(np.float64) / (255.0 if pixels.dtype == np.uint8 else 1.0)


def _crop(ann: Mapping, height: int, width: int, margin: float = 0.3) -> tuple[slice, slice]:
    x, y, w, h = ann["bbox"]
    pad = margin * max(w, h)
    return (slice(max(0, int(y - pad)), min(height, int(np.ceil(y + h + pad)))),
            slice(max(0, int(x - pad)), min(width, int(np.ceil(x + w + pad)))))


def draw_object_grid(image_dir: str | os.PathLike, dataset: Mapping, objects: Sequence[Mapping],
                     models: Mapping[str, Mapping[int, list[dict]]], overlaps: Mapping[int, float],
                     category_names: Mapping[int, str]):
    """Figs. 1 and 7: one row per ground-truth object (cropped around its box): the image with the ground-truth
    mask, then each model's best-matching mask (``match_detection``) with its mask IoU. Returns the figure."""
    import matplotlib.pyplot as plt

    images = {img["id"]: img for img in dataset["images"]}
    columns = ["ground truth", *models]
    fig, axes = plt.subplots(len(objects), len(columns), figsize=(2.3 * len(columns), 2.3 * len(objects)),
                             squeeze=False)
    for row, ann in zip(axes, objects):
        image = images[ann["image_id"]]
        height, width = image["height"], image["width"]
        pixels = _load_image(Path(image_dir), image)
        rows, cols = _crop(ann, height, width)
        panels = [(_overlay(pixels, [_mask(ann["segmentation"], height, width)]),
                   f"{category_names[ann['category_id']]}\nO = {overlaps[ann['id']]:.2f}")]
        for label, by_image in models.items():
            det, iou = match_detection(by_image.get(ann["image_id"], []), ann, height, width)
            masks = [] if det is None else [_mask(det["segmentation"], height, width)]
            panels.append((_overlay(pixels, masks), f"{label}\nmask IoU {iou:.2f}" if det else f"{label}\nno match"))
        for ax, (panel, title) in zip(row, panels):
            ax.imshow(panel[rows, cols], interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    return fig


def draw_image_grid(image_dir: str | os.PathLike, dataset: Mapping, image_ids: Sequence[int],
                    models: Mapping[str, Mapping[int, list[dict]]], category_ids: Sequence[int],
                    min_score: float = 0.5):
    """Fig. 6: whole images, one column per model, with every detection of ``category_ids`` scoring at least
    ``min_score`` (each in its own colour). The first column shows the ground truth. Returns the figure."""
    import matplotlib.pyplot as plt

    images = {img["id"]: img for img in dataset["images"]}
    wanted = set(category_ids)
    gt_by_image: dict[int, list[dict]] = defaultdict(list)
    for ann in dataset["annotations"]:
        if ann["category_id"] in wanted:
            gt_by_image[ann["image_id"]].append(ann)
    columns = ["ground truth (unseen)", *models]
    fig, axes = plt.subplots(len(image_ids), len(columns), figsize=(2.6 * len(columns), 2.6 * len(image_ids)),
                             squeeze=False)
    for row, image_id in zip(axes, image_ids):
        image = images[image_id]
        height, width = image["height"], image["width"]
        pixels = _load_image(Path(image_dir), image)
        panels = [(_overlay(pixels, [_mask(a["segmentation"], height, width) for a in gt_by_image[image_id]]),
                   f"image {image_id}")]
        for label, by_image in models.items():
            dets = [d for d in by_image.get(image_id, []) if d["category_id"] in wanted and d["score"] >= min_score]
            panels.append((_overlay(pixels, [_mask(d["segmentation"], height, width) for d in dets]),
                           f"{label}\n{len(dets)} detections ≥ {min_score}"))
        for ax, (panel, title) in zip(row, panels):
            ax.imshow(panel, interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    return fig
