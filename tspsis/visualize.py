"""Figs. 1, 5, 6 and 7: masks predicted by trained models and class-activation maps, drawn on validation images.

Predictions come from the COCO results a finished run leaves behind (``WORK_DIR/test.segm.json``, written by
``PartialCocoMetric`` with ``outfile_prefix = WORK_DIR/test``), so no model is rebuilt for Figs. 1, 6, 7. Objects
are picked by their overlap O (Eq. 1) on the full validation ground truth. Fig. 5 (``opmask_cams``) and the look
inside the teacher-student head (``teacher_student_panels``: Mt, r(Mt), the cleaned pseudo mask and the student
of a trained checkpoint) rebuild the model from its run folder; only they import mmdet (lazily).
``plot_training_curves`` draws the loss terms of Eq. 7 from the runs' logs.

A model without a single matching detection gets no column of empty panels: the figure says so in one line of
text under the panels of the others (or only that line, when no model matched anything).
"""
from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .io import read_json
from .overlap import decode_segmentation

__all__ = ["TEACHER_STUDENT_COLUMNS", "detections_by_image", "draw_cams", "draw_image_grid", "draw_object_grid",
           "draw_teacher_student", "match_detection", "object_ious", "opmask_cams", "pick_objects",
           "plot_training_curves", "teacher_student_panels"]

# Hues the synthetic appearances do not use first (they use reds, blues, greens and purples), so masks stand out.
_COLOURS = np.array([[255, 225, 25], [70, 240, 240], [255, 255, 255], [245, 130, 48], [210, 245, 60],
                     [250, 190, 212], [0, 0, 0], [170, 110, 40], [128, 128, 0], [255, 215, 180]], dtype=np.float64) / 255


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


def _empty_figure(message: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 0.075 * len(message)), 0.6))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.axis("off")
    return fig


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
        out[mask] = (1 - alpha) * out[mask] + alpha * _COLOURS[k % len(_COLOURS)]
    ax.imshow(out[window], interpolation="nearest")
    for k, mask in enumerate(masks):
        if mask[window].any():
            ax.contour(mask[window].astype(float), levels=[0.5], colors=[_COLOURS[k % len(_COLOURS)]], linewidths=1.2)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


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
    mask, then each model's best-matching mask (``match_detection``) with its mask IoU. A model that matches
    none of the objects gets a line of text instead of a column. Returns the figure."""
    import matplotlib.pyplot as plt

    if not objects:
        return _empty_figure("no validation object matches the selection")
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
        _draw(row[0], pixels, [_mask(ann["segmentation"], height, width)],
              f"{category_names[ann['category_id']]}\nO = {overlaps[ann['id']]:.2f}", (rows, cols))
        for ax, (label, by_image) in zip(row[1:], models.items()):
            det, iou = match_detection(by_image.get(ann["image_id"], []), ann, height, width)
            masks = [] if det is None else [_mask(det["segmentation"], height, width)]
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
        return _empty_figure("no validation image matches the selection")
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
        _draw(row[0], pixels, [_mask(a["segmentation"], height, width) for a in gt_by_image[image_id]],
              f"image {image_id}")
        for ax, (label, by_image) in zip(row[1:], models.items()):
            dets = [d for d in by_image.get(image_id, []) if d["category_id"] in wanted and d["score"] >= min_score]
            _draw(ax, pixels, [_mask(d["segmentation"], height, width) for d in dets],
                  f"{label}\n{len(dets)} detections ≥ {min_score}")
    fig.tight_layout()
    _footnote(fig, missing)
    return fig


def opmask_cams(run, dataset: Mapping, image_dir: str | os.PathLike, objects: Sequence[Mapping]) -> list[np.ndarray]:
    """Eq. 9 for each ground-truth object: the CAM of its own class on its box, from a trained OPMask run.

    run: a finished ``tspsis.launch.Run`` of an OPMask config (box head ``CAMBBoxHead``). The image goes through
    the run's test pipeline and backbone; the box is RoI-aligned like a proposal; F (1, D, 7, 7) from the box
    head's convolutions gives cam_ij = F_ij . W_cls + b_cls for the object's class. Returns one (7, 7) map per
    object, min-max normalised to [0, 1] (``tspsis.cam.normalize_cam``).
    """
    import torch
    from mmdet.structures.bbox import bbox2roi

    from .cam import normalize_cam

    model, pipeline = _load_run_model(run)
    if not hasattr(model.roi_head.bbox_head, "cam_for_labels"):
        raise ValueError(f"{run.work_dir}: the box head {type(model.roi_head.bbox_head).__name__} has no class-activation "
                         "maps (Eq. 9 needs OPMask's CAMBBoxHead)")
    labels = {c["id"]: k for k, c in enumerate(sorted(dataset["categories"], key=lambda c: c["id"]))}
    images = {img["id"]: img for img in dataset["images"]}
    extractor = model.roi_head.bbox_roi_extractor
    cams = []
    with torch.no_grad():
        for ann in objects:
            image = images[ann["image_id"]]
            data = pipeline(dict(img_path=str(Path(image_dir) / image["file_name"]), img_id=image["id"]))
            batch = model.data_preprocessor({"inputs": [data["inputs"]], "data_samples": [data["data_samples"]]})
            feats = model.extract_feat(batch["inputs"])
            scale_x, scale_y = data["data_samples"].metainfo["scale_factor"]
            x, y, w, h = ann["bbox"]
            box = torch.tensor([[x * scale_x, y * scale_y, (x + w) * scale_x, (y + h) * scale_y]])
            box_feats = extractor(feats[:extractor.num_inputs], bbox2roi([box]))
            head = model.roi_head.bbox_head
            cam = head.cam_for_labels(head.features(box_feats), torch.tensor([labels[ann["category_id"]]]))
            cams.append(normalize_cam(cam[0, 0]).numpy())
    return cams


def draw_cams(image_dir: str | os.PathLike, dataset: Mapping, objects: Sequence[Mapping],
              cams: Sequence[np.ndarray], category_names: Mapping[int, str]):
    """Fig. 5: each object's crop with its ground-truth box (dashed), and its class-activation map
    (``opmask_cams``, normalised to [0, 1]) stretched over that box, with a colour bar for the map's scale."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if not objects:
        return _empty_figure("no validation object matches the selection")
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


def _load_run_model(run):
    """(model, test pipeline) of a finished run, rebuilt from the config mmengine dumped into its folder."""
    from mmdet.apis import init_detector
    from mmdet.utils import get_test_pipeline_cfg
    from mmengine.dataset import Compose

    from .checkpoint import install_mmengine_loader

    install_mmengine_loader()
    meta = run.metrics["run"]  # the resolved config mmengine dumped (runs before dumped_config: named as the leaf)
    config = Path(run.work_dir) / (meta.get("dumped_config") or Path(meta["config"]).name)
    model = init_detector(str(config), str(run.checkpoint), device="cpu")
    return model, Compose(get_test_pipeline_cfg(model.cfg))


def teacher_student_panels(run, dataset: Mapping, image_dir: str | os.PathLike, objects: Sequence[Mapping],
                           seen_category_ids: Sequence[int]) -> list[dict[str, np.ndarray | float]]:
    """What the teacher-student head of a trained checkpoint makes of each (unseen) object's ground-truth box.

    run: a finished run of a Mask R-CNN + ours config (``TeacherStudentRoIHead``). For each object, on the RoI grid
    of the student (h x w): ``crop`` (h, w, 3) the RoI-aligned image; ``teacher`` Mt (h, w) probabilities of Ft;
    ``threshold``, ``crf``, ``interact`` r(Mt) of Sec. 4.2 (bool); ``cleaned`` the threshold pseudo mask with the
    image's seen-category masks and the outside of the box set to background, as in training (Sec. 5.1);
    ``student`` Ms >= 0.5 of Fs's channel of the object's class; ``gt`` the ground-truth mask (which training
    never saw for an unseen object); and the IoU of each mask with ``gt`` (``iou_<name>``).
    """
    import torch
    from mmdet.structures.bbox import bbox2roi
    from torchvision.ops import roi_align

    from . import pseudo

    model, pipeline = _load_run_model(run)
    roi_head = model.roi_head
    if not hasattr(roi_head, "teacher_head"):
        raise ValueError(f"{run.work_dir}: {type(roi_head).__name__} has no teacher head (a '+ ours' run is needed)")
    labels = {c["id"]: k for k, c in enumerate(sorted(dataset["categories"], key=lambda c: c["id"]))}
    images = {img["id"]: img for img in dataset["images"]}
    seen = set(seen_category_ids)
    panels = []
    with torch.no_grad():
        for ann in objects:
            image = images[ann["image_id"]]
            height, width = image["height"], image["width"]
            data = pipeline(dict(img_path=str(Path(image_dir) / image["file_name"]), img_id=image["id"]))
            batch = model.data_preprocessor({"inputs": [data["inputs"]], "data_samples": [data["data_samples"]]})
            feats = model.extract_feat(batch["inputs"])
            scale_x, scale_y = data["data_samples"].metainfo["scale_factor"]
            x, y, w, h = ann["bbox"]
            box = torch.tensor([[x, y, x + w, y + h]], dtype=torch.float32)
            rois = bbox2roi([box * torch.tensor([scale_x, scale_y, scale_x, scale_y])])
            mask_feats = roi_head.mask_roi_extractor(feats[:roi_head.mask_roi_extractor.num_inputs], rois)
            student = roi_head.mask_head(mask_feats)[0, labels[ann["category_id"]]].sigmoid()
            teacher = roi_head.teacher_head(mask_feats)[0, 0].sigmoid()
            size = tuple(student.shape)
            if tuple(teacher.shape) != size:
                teacher = torch.nn.functional.interpolate(teacher[None, None], size=size, mode="area")[0, 0]

            def on_roi(array: np.ndarray) -> torch.Tensor:  # (H, W) or (C, H, W) image-frame -> RoI grid
                tensor = torch.as_tensor(array, dtype=torch.float32)
                tensor = tensor[None, None] if tensor.dim() == 2 else tensor[None]
                boxes = torch.cat([torch.zeros(1, 1), box], 1)
                return roi_align(tensor, boxes, size, spatial_scale=1.0, sampling_ratio=0, aligned=True)[0]

            pixels = _load_image(Path(image_dir), image)
            crop = on_roi(np.transpose(pixels, (2, 0, 1)).astype(np.float32) * 255)  # (3, h, w) RGB 0..255
            others = [a for a in dataset["annotations"] if a["image_id"] == image["id"] and a["category_id"] in seen]
            union = np.zeros((height, width), bool)
            for other in others:
                union |= _mask(other["segmentation"], height, width).astype(bool)
            masks = {"threshold": pseudo.threshold(teacher[None])[0],
                     "crf": pseudo.crf(teacher[None], crop[None])[0],
                     "interact": pseudo.interact(teacher[None], student[None])[0]}
            masks["cleaned"] = pseudo.clean_pseudo_masks(
                masks["threshold"][None], on_roi(union)[0][None] >= 0.5,
                pseudo.box_mask_on_rois(box, box, size))[0]
            masks["student"] = student >= 0.5
            gt = on_roi(_mask(ann["segmentation"], height, width))[0] >= 0.5
            panel: dict[str, np.ndarray | float] = {"crop": crop.permute(1, 2, 0).numpy() / 255,
                                                    "teacher": teacher.numpy(), "gt": gt.numpy()}
            for name, mask in masks.items():
                panel[name] = mask.numpy()
                union_px = (mask | gt).sum().item()
                panel[f"iou_{name}"] = (mask & gt).sum().item() / union_px if union_px else 1.0
            panels.append(panel)
    return panels


TEACHER_STUDENT_COLUMNS = (("crop", "RoI"), ("teacher", "Mt"), ("threshold", "Mt ≥ 0.5"), ("crf", "CRF"),
                           ("interact", "interact"), ("cleaned", "cleaned r(Mt)"), ("student", "student Fs"),
                           ("gt", "ground truth"))


def draw_teacher_student(panels: Sequence[Mapping], captions: Sequence[str]):
    """One row per object of ``teacher_student_panels``: the RoI, Mt, r(Mt) for threshold / CRF / interact, the
    cleaned pseudo mask, the student's mask and the ground truth, each mask titled with its IoU with the truth."""
    import matplotlib.pyplot as plt

    if not panels:
        return _empty_figure("no unseen validation object matches the selection")
    fig, axes = plt.subplots(len(panels), len(TEACHER_STUDENT_COLUMNS),
                             figsize=(1.45 * len(TEACHER_STUDENT_COLUMNS), 1.6 * len(panels)), squeeze=False)
    for row, (panel, caption) in enumerate(zip(panels, captions)):
        for col, (key, title) in enumerate(TEACHER_STUDENT_COLUMNS):
            ax = axes[row, col]
            cmap = None if key == "crop" else ("viridis" if key == "teacher" else "gray")
            ax.imshow(panel[key], cmap=cmap, vmin=None if key == "crop" else 0, vmax=None if key == "crop" else 1,
                      interpolation="nearest")
            iou = panel.get(f"iou_{key}")
            ax.set_title(title if iou is None else f"{title}\nIoU {iou:.2f}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(caption, fontsize=7)
    fig.tight_layout()
    return fig


def plot_training_curves(runs: Mapping[str, object], keys: Sequence[str] = ("loss_cls", "loss_bbox", "loss_mask",
                                                                            "loss_mask_teacher", "loss_mask_student"),
                         ylabel: str = "loss"):
    """The loss terms of Eq. 7 (or other logged ``keys``, e.g. ``pseudo_mask_iou`` of
    :class:`~tspsis.models.monitor.PseudoMaskMonitorHook`) over the training iterations of each run (mmengine's
    ``vis_data/scalars.json``).

    runs: {label: a finished ``tspsis.launch.Run``}. One panel per run; a term a run does not have is left out."""
    import json

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.0), squeeze=False)
    for ax, (label, run) in zip(axes[0], runs.items()):
        logs = sorted(Path(run.work_dir).glob("*/vis_data/scalars.json"))
        rows = [json.loads(line) for line in logs[-1].read_text().splitlines()] if logs else []
        rows = [r for r in rows if "loss" in r and "iter" in r]
        for key in keys:
            points = [(r["iter"], r[key]) for r in rows if key in r]
            if points:
                ax.plot(*zip(*points), label=key, linewidth=1.2)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylim(bottom=0)
        if rows:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no training log", ha="center", va="center", transform=ax.transAxes)
    axes[0, 0].set_ylabel(ylabel)
    fig.tight_layout()
    return fig
