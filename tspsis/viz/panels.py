"""Inside the teacher-student head: what Ft, r(Mt), the cleaning and Fs of a trained checkpoint make of objects
(``teacher_student_panels``, from the head's own ``explain()``; drawn by ``draw_teacher_student``), and the helpers that rebuild a run's model from its
folder (``_load_run_model``) and load images and masks, which ``tspsis.viz.examples`` (Figs. 1, 5, 6, 7) shares.
Only the functions that rebuild a model import mmdet (lazily).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tspsis.core.overlap import decode_segmentation

__all__ = ["COMPARED_POST_PROCESSING", "TEACHER_STUDENT_COLUMNS", "draw_teacher_student", "explanation_panel",
           "teacher_student_panels"]


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
    meta = run.metrics["run"]  # the resolved config mmengine dumped (runs before dumped_config: named as the leaf)
    config = Path(run.work_dir) / (meta.get("dumped_config") or Path(meta["config"]).name)
    model = init_detector(str(config), str(run.checkpoint), device="cpu")
    return model, Compose(get_test_pipeline_cfg(model.cfg))


def _through_network(model, pipeline, image_dir: str | os.PathLike, image: Mapping, ann: Mapping):
    """One image through a run's test pipeline, data preprocessor and backbone + neck, and one object's box on it.

    Returns (data: the pipeline's output, batch: the preprocessor's, feats: ``extract_feat``'s levels, box: (1, 4)
    the object's ground-truth box xyxy scaled to the network input).
    """
    import torch

    data = pipeline(dict(img_path=str(Path(image_dir) / image["file_name"]), img_id=image["id"]))
    batch = model.data_preprocessor({"inputs": [data["inputs"]], "data_samples": [data["data_samples"]]})
    scale_x, scale_y = data["data_samples"].metainfo["scale_factor"]
    x, y, w, h = ann["bbox"]
    box = torch.tensor([[x * scale_x, y * scale_y, (x + w) * scale_x, (y + h) * scale_y]])
    return data, batch, model.extract_feat(batch["inputs"]), box


COMPARED_POST_PROCESSING = ("threshold", "crf", "interact")  # r(.) of Sec. 4.2, shown side by side


def teacher_student_panels(run, dataset: Mapping, image_dir: str | os.PathLike, objects: Sequence[Mapping],
                           seen_category_ids: Sequence[int]) -> list[dict[str, np.ndarray | float]]:
    """What the teacher-student head of a trained checkpoint makes of each (unseen) object's ground-truth box.

    run: a finished run of a Mask R-CNN + ours config (``TeacherStudentRoIHead``). Every mask comes from the head's
    own :meth:`~tspsis.plugin.roi_heads.teacher_student.TeacherStudentRoIHead.explain` on the image as the test pipeline loads it,
    the image's seen-category masks brought to the same frame as training brings them (nearest-neighbour resize,
    zero padding): see :func:`explanation_panel` for the keys.
    """
    import torch
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    from tspsis.plugin.utils.partial_supervision import seen_union_masks
    from tspsis.plugin.data_preprocessors.image_keeping import rgb_inputs
    from tspsis.core.pseudo import union_mask_on_rois

    model, pipeline = _load_run_model(run)
    roi_head = model.roi_head
    if not hasattr(roi_head, "explain"):
        raise ValueError(f"{run.work_dir}: {type(roi_head).__name__} has no teacher head (a '+ ours' run is needed)")
    labels = {c["id"]: k for k, c in enumerate(sorted(dataset["categories"], key=lambda c: c["id"]))}
    images = {img["id"]: img for img in dataset["images"]}
    seen = set(seen_category_ids)
    panels = []
    with torch.no_grad():
        for ann in objects:
            image = images[ann["image_id"]]
            data, batch, feats, box = _through_network(model, pipeline, image_dir, image, ann)
            resized = data["data_samples"].metainfo["img_shape"]
            padded = tuple(batch["inputs"].shape[-2:])
            others = [a for a in dataset["annotations"] if a["image_id"] == image["id"] and a["category_id"] in seen]
            seen_masks = InstanceData(masks=BitmapMasks(_in_input_frame(others, image, resized, padded), *padded),
                                      has_mask=torch.ones(len(others), dtype=torch.bool))
            inputs = dict(x=feats, boxes=box, img_idx=torch.zeros(1, dtype=torch.long),
                          labels=torch.tensor([labels[ann["category_id"]]]),
                          seen_union=seen_union_masks([seen_masks]),
                          images=rgb_inputs(model.data_preprocessor, batch["inputs"]))
            own = roi_head.explain(**inputs)
            compared = {name: roi_head.explain(**inputs, pseudo_labeler=dict(
                type="PseudoLabeler", post_process=dict(type=name), clean=False))
                for name in COMPARED_POST_PROCESSING}
            gt = torch.from_numpy(_in_input_frame([ann], image, resized, padded))
            panels.append(explanation_panel(own, compared, 0, union_mask_on_rois(
                own.rois, torch.zeros(1, dtype=torch.long), gt, own.teacher.shape[-2:])[0]))
    return panels


def _in_input_frame(anns: Sequence[Mapping], image: Mapping, resized: tuple[int, int],
                    padded: tuple[int, int]) -> np.ndarray:
    """(N, *padded) uint8 masks of `anns` in the network input's frame: resized to `resized` (h, w) by nearest
    neighbour, as mmdet's Resize resizes BitmapMasks, then zero-padded as the data preprocessor pads them."""
    from mmcv import imresize

    frame = np.zeros((len(anns), *padded), np.uint8)
    for k, ann in enumerate(anns):
        mask = _mask(ann["segmentation"], image["height"], image["width"]).astype(np.uint8)
        frame[k, :resized[0], :resized[1]] = imresize(mask, (resized[1], resized[0]), interpolation="nearest")
    return frame


def explanation_panel(own, compared: Mapping[str, object], row: int, gt) -> dict[str, np.ndarray | float]:
    """One object's panel from :class:`~tspsis.plugin.roi_heads.teacher_student.Explanation`s, nothing recomputed.

    own: the head's explanation with its own PseudoLabeler; compared: name -> explanation with another r(.);
    row: the object's row in them; gt: (h, w) bool its ground-truth mask on the RoI grid (which training never
    saw for an unseen object). Keys, each (h, w) on the student's grid: ``crop`` (h, w, 3) RGB in [0, 1];
    ``teacher`` Mt; one bool mask per compared r(Mt) (uncleaned); ``cleaned`` the run's own pseudo mask, the
    student's training target (>= 0.5); ``student`` Ms >= 0.5 of channel l; ``gt``; and ``iou_<name>`` of each
    mask with ``gt``.
    """
    masks = {name: explanation.pseudo_masks[row] >= 0.5 for name, explanation in compared.items()}
    masks["cleaned"] = own.cleaned[row] >= 0.5
    masks["student"] = own.student[row] >= 0.5
    gt = gt.bool()
    panel: dict[str, np.ndarray | float] = {"crop": own.crops[row].permute(1, 2, 0).numpy() / 255,
                                            "teacher": own.teacher[row].numpy(), "gt": gt.numpy()}
    for name, mask in masks.items():
        panel[name] = mask.numpy()
        union_px = (mask | gt).sum().item()
        panel[f"iou_{name}"] = (mask & gt).sum().item() / union_px if union_px else 1.0
    return panel


TEACHER_STUDENT_COLUMNS = (("crop", "RoI"), ("teacher", "Mt"), ("threshold", "Mt ≥ 0.5"), ("crf", "CRF"),
                           ("interact", "interact"), ("cleaned", "run's cleaned r(Mt)"), ("student", "student Fs"),
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
