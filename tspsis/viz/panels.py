"""Inside the teacher-student head: what Ft, r(Mt), the cleaning and Fs of a trained checkpoint make of objects
(``teacher_student_panels``, drawn by ``draw_teacher_student``), and the helpers that rebuild a run's model from its
folder (``_load_run_model``) and load images and masks, which ``tspsis.viz.examples`` (Figs. 1, 5, 6, 7) shares.
Only the functions that rebuild a model import mmdet (lazily).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tspsis.core.overlap import decode_segmentation

__all__ = ["TEACHER_STUDENT_COLUMNS", "draw_teacher_student", "teacher_student_panels"]


def _mask(segmentation, height: int, width: int) -> np.ndarray:
    return decode_segmentation(segmentation, height, width)


def _empty_figure(message: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 0.075 * len(message)), 0.6))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.axis("off")
    return fig


def _load_image(image_dir: Path, image: Mapping) -> np.ndarray:
    import matplotlib.pyplot as plt

    pixels = plt.imread(image_dir / image["file_name"])[..., :3]
    return pixels.astype(np.float64) / (255.0 if pixels.dtype == np.uint8 else 1.0)


def _load_run_model(run):
    """(model, test pipeline) of a finished run, rebuilt from the config mmengine dumped into its folder."""
    from mmdet.apis import init_detector
    from mmdet.utils import get_test_pipeline_cfg
    from mmengine.dataset import Compose

    from tspsis.core.checkpoint import install_mmengine_loader

    install_mmengine_loader()
    config = Path(run.work_dir) / Path(run.metrics["run"]["config"]).name  # the resolved config mmengine dumped
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

    from tspsis.core import pseudo

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
