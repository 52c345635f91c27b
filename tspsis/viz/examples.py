"""Figs. 1, 5, 6 and 7: masks predicted by trained models and class-activation maps, drawn on validation images.

Predictions come from the COCO results a finished run leaves behind (``WORK_DIR/test.segm.json``, written by
``PartialCocoMetric`` with ``outfile_prefix = WORK_DIR/test``), so no model is rebuilt for Figs. 1, 6, 7. Objects
are picked by their overlap O (Eq. 1) on the full validation ground truth. Fig. 5 draws the class-activation maps
that :func:`tspsis.apis.opmask_cams` computes from the run's model. Mask colours: ``tspsis.viz.palette``.

A model without a single matching detection gets no column of empty panels: the figure says so in one line of
text under the panels of the others (or only that line, when no model matched anything).
"""
from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tspsis.core.io import read_json
from tspsis.core.overlap import decode_segmentation
from tspsis.viz.palette import instance_colour
from tspsis.viz.plots import message_figure

__all__ = ["detections_by_image", "draw_cams", "draw_image_grid", "draw_object_grid", "match_detection",
           "object_ious", "pick_objects"]


def _load_image(image_dir: Path, image: Mapping) -> np.ndarray:
    """The image file of ``image`` (a COCO ``images`` entry) as (H, W, 3) float RGB in [0, 1]."""
    import matplotlib.pyplot as plt

    pixels = plt.imread(image_dir / image["file_name"])[..., :3]
    return pixels.astype(np.float64) / (255.0 if pixels.dtype == np.uint8 else 1.0)


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


def match_detection(detections: Sequence[dict], ann: Mapping, height: int, width: int) -> tuple[dict | None, float]:
    """The detection of ``ann``'s category with the highest mask IoU with it, and that IoU (None, 0.0 if none)."""
    gt = decode_segmentation(ann["segmentation"], height, width)
    best, best_iou = None, 0.0
    for det in detections:
        if det["category_id"] != ann["category_id"]:
            continue
        pred = decode_segmentation(det["segmentation"], height, width)
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


def _without_empty(models: Mapping[str, Mapping[int, list[dict]]], has_any) -> tuple[dict, str]:
    """The models for which ``has_any(label, by_image)`` is True, and one line naming the others ("" if none)."""
    kept = {label: by_image for label, by_image in models.items() if has_any(label, by_image)}
    dropped = [label for label in models if label not in kept]
    return kept, (f"{', '.join(dropped)}: no matching detection for any of these objects" if dropped else "")


def _footnote(fig, message: str) -> None:
    if message:
        fig.text(0.5, 0.0, message, ha="center", va="top", fontsize=9)


def _draw(ax, image: np.ndarray, masks: Sequence[np.ndarray], title: str,
          window: tuple[slice, slice] = (slice(None), slice(None)), alpha: float = 0.35) -> None:
    """Show image (H, W, 3) float in [0, 1] with each (H, W) bool mask tinted and outlined in its own colour,
    cropped to ``window`` (rows, cols)."""
    out = image.copy()
    for k, mask in enumerate(masks):
        out[mask] = (1 - alpha) * out[mask] + alpha * instance_colour(k)
    ax.imshow(out[window], interpolation="nearest")
    for k, mask in enumerate(masks):
        if mask[window].any():
            ax.contour(mask[window].astype(float), levels=[0.5], colors=[instance_colour(k)], linewidths=1.2)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def _crop(ann: Mapping, height: int, width: int, margin: float = 0.3) -> tuple[slice, slice]:
    x, y, w, h = ann["bbox"]
    pad = margin * max(w, h)
    return (slice(max(0, int(y - pad)), min(height, int(np.ceil(y + h + pad)))),
            slice(max(0, int(x - pad)), min(width, int(np.ceil(x + w + pad)))))


def draw_object_grid(image_dir: str | os.PathLike, dataset: Mapping, objects: Sequence[Mapping],
                     models: Mapping[str, Mapping[int, list[dict]]], overlaps: Mapping[int, float],
                     category_names: Mapping[int, str]):
    """Figs. 1 and 7: one row per ground-truth object (cropped around its box): the image with the ground-truth
    mask, then each model's best-matching mask (``match_detection``) with its mask IoU. A model that matches
    none of the objects gets a line of text instead of a column. Returns the figure."""
    import matplotlib.pyplot as plt

    if not objects:
        return message_figure("no validation object matches the selection")
    images = {img["id"]: img for img in dataset["images"]}

    def matches_any(label: str, by_image: Mapping[int, list[dict]]) -> bool:
        return any(match_detection(by_image.get(a["image_id"], []), a, images[a["image_id"]]["height"],
                                   images[a["image_id"]]["width"])[0] is not None for a in objects)

    models, missing = _without_empty(models, matches_any)
    columns = ["ground truth", *models]
    fig, axes = plt.subplots(len(objects), len(columns), figsize=(2.3 * len(columns), 2.3 * len(objects)),
                             squeeze=False)
    for row, ann in zip(axes, objects):
        image = images[ann["image_id"]]
        height, width = image["height"], image["width"]
        pixels = _load_image(Path(image_dir), image)
        rows, cols = _crop(ann, height, width)
        _draw(row[0], pixels, [decode_segmentation(ann["segmentation"], height, width)],
              f"{category_names[ann['category_id']]}\nO = {overlaps[ann['id']]:.2f}", (rows, cols))
        for ax, (label, by_image) in zip(row[1:], models.items()):
            det, iou = match_detection(by_image.get(ann["image_id"], []), ann, height, width)
            masks = [] if det is None else [decode_segmentation(det["segmentation"], height, width)]
            _draw(ax, pixels, masks, f"{label}\nmask IoU {iou:.2f}" if det else f"{label}\nno match", (rows, cols))
    fig.tight_layout()
    _footnote(fig, missing)
    return fig


def draw_image_grid(image_dir: str | os.PathLike, dataset: Mapping, image_ids: Sequence[int],
                    models: Mapping[str, Mapping[int, list[dict]]], category_ids: Sequence[int],
                    min_score: float = 0.5):
    """Fig. 6: whole images, one column per model, with every detection of ``category_ids`` scoring at least
    ``min_score`` (each in its own colour). The first column shows the ground truth. A model with no such
    detection in any of the images gets a line of text instead of a column. Returns the figure."""
    import matplotlib.pyplot as plt

    if not image_ids:
        return message_figure("no validation image matches the selection")
    images = {img["id"]: img for img in dataset["images"]}
    wanted = set(category_ids)
    models, missing = _without_empty(models, lambda label, by_image: any(
        d["category_id"] in wanted and d["score"] >= min_score for i in image_ids for d in by_image.get(i, [])))
    missing = missing.replace("no matching detection for any of these objects",
                              f"no detection of these categories with score ≥ {min_score} in these images")
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
        truth = [decode_segmentation(a["segmentation"], height, width) for a in gt_by_image[image_id]]
        _draw(row[0], pixels, truth, f"image {image_id}")
        for ax, (label, by_image) in zip(row[1:], models.items()):
            dets = [d for d in by_image.get(image_id, []) if d["category_id"] in wanted and d["score"] >= min_score]
            _draw(ax, pixels, [decode_segmentation(d["segmentation"], height, width) for d in dets],
                  f"{label}\n{len(dets)} detections ≥ {min_score}")
    fig.tight_layout()
    _footnote(fig, missing)
    return fig


def draw_cams(image_dir: str | os.PathLike, dataset: Mapping, objects: Sequence[Mapping],
              cams: Sequence[np.ndarray], category_names: Mapping[int, str]):
    """Fig. 5: each object's crop with its ground-truth box (dashed), and its class-activation map
    (:func:`tspsis.apis.opmask_cams`, normalised to [0, 1]) stretched over that box, with a colour bar for the map's scale."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if not objects:
        return message_figure("no validation object matches the selection")
    images = {img["id"]: img for img in dataset["images"]}
    fig, axes = plt.subplots(2, len(objects), figsize=(2.3 * len(objects) + 0.8, 4.6), squeeze=False)
    shown = None
    for k, (ann, cam_map) in enumerate(zip(objects, cams)):
        image = images[ann["image_id"]]
        pixels = _load_image(Path(image_dir), image)
        x, y, w, h = ann["bbox"]
        rows, cols = _crop(ann, image["height"], image["width"])
        axes[0, k].imshow(pixels, interpolation="nearest")
        axes[0, k].set_title(category_names[ann["category_id"]], fontsize=8)
        axes[1, k].imshow(pixels, interpolation="nearest")
        shown = axes[1, k].imshow(cam_map, cmap="jet", alpha=0.5, extent=(x, x + w, y + h, y),
                                  interpolation="bilinear", vmin=0.0, vmax=1.0)
        axes[1, k].set_title("CAM of its class (Eq. 9)", fontsize=8)
        for ax in axes[:, k]:
            ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="white", linestyle="--", linewidth=1.2))
            ax.set_xlim(cols.start, cols.stop)
            ax.set_ylim(rows.stop, rows.start)
            ax.axis("off")
    fig.tight_layout()
    fig.colorbar(shown, ax=list(axes[1]), fraction=0.046, pad=0.04, label="CAM (min-max normalised)")
    return fig
