"""Inside the teacher-student head: what Ft, r(Mt), the cleaning and Fs of a trained checkpoint make of objects
(``teacher_student_panels``: the masks and IoUs of the head's own ``explain()``, which
:func:`tspsis.apis.explain_objects` runs; drawn by ``draw_teacher_student``).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from tspsis.apis import explain_objects
from tspsis.viz.plots import message_figure

__all__ = ["TEACHER_STUDENT_COLUMNS", "draw_teacher_student", "explanation_panel", "teacher_student_panels"]


def teacher_student_panels(run, dataset: Mapping, image_dir: str | os.PathLike, objects: Sequence[Mapping],
                           seen_category_ids: Sequence[int]) -> list[dict[str, np.ndarray | float]]:
    """One :func:`explanation_panel` per object of :func:`tspsis.apis.explain_objects` (same arguments): what the
    teacher-student head of a trained checkpoint makes of each (unseen) object's ground-truth box."""
    return [explanation_panel(explained.own, explained.compared, 0, explained.gt)
            for explained in explain_objects(run, dataset, image_dir, objects, seen_category_ids)]


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
        return message_figure("no unseen validation object matches the selection")
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
