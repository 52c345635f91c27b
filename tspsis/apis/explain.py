"""What a trained head makes of single ground-truth objects, from a finished run's model (:mod:`tspsis.apis.model`):
the teacher-student head's own ``explain()`` of an object's box (``explain_objects``: the teacher, r(Mt) with
several post-processings, the cleaned pseudo mask and the student) and OPMask's class-activation map of its box
(``opmask_cams``, Eq. 9). The figures of ``tspsis.viz`` draw them."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tspsis.apis.model import load_run_model, through_network
from tspsis.core.overlap import decode_segmentation

__all__ = ["COMPARED_POST_PROCESSING", "ObjectExplanation", "explain_objects", "opmask_cams"]

COMPARED_POST_PROCESSING = ("threshold", "crf", "interact")  # r(.) of Sec. 4.2, shown side by side


@dataclass
class ObjectExplanation:
    """The teacher-student head on one object's box (P = 1 row in each
    :class:`~tspsis.plugin.roi_heads.teacher_student.Explanation`, masks (1, h, w) on the student's RoI grid).

    own: the explanation with the run's own PseudoLabeler (its ``cleaned`` is the student's training target);
    compared: post-processing name (``COMPARED_POST_PROCESSING``) -> the explanation with that r(.), uncleaned;
    gt: (h, w) bool tensor, the object's ground-truth mask on the same RoI grid (which training never saw for an
    unseen object).
    """

    own: Any
    compared: dict[str, Any]
    gt: Any


def _labels(dataset: Mapping) -> dict[int, int]:
    """Category id -> the model's label (categories in id order, as ``PartialCocoDataset`` reads them)."""
    return {c["id"]: k for k, c in enumerate(sorted(dataset["categories"], key=lambda c: c["id"]))}


def _in_input_frame(anns: Sequence[Mapping], image: Mapping, resized: tuple[int, int],
                    padded: tuple[int, int]) -> np.ndarray:
    """(N, *padded) uint8 masks of `anns` in the network input's frame: resized to `resized` (h, w) by nearest
    neighbour, as mmdet's Resize resizes BitmapMasks, then zero-padded as the data preprocessor pads them."""
    from mmcv import imresize

    frame = np.zeros((len(anns), *padded), np.uint8)
    for k, ann in enumerate(anns):
        mask = decode_segmentation(ann["segmentation"], image["height"], image["width"]).astype(np.uint8)
        frame[k, :resized[0], :resized[1]] = imresize(mask, (resized[1], resized[0]), interpolation="nearest")
    return frame


def explain_objects(run, dataset: Mapping, image_dir: str | os.PathLike, objects: Sequence[Mapping],
                    seen_category_ids: Sequence[int]) -> list[ObjectExplanation]:
    """What the teacher-student head of a trained checkpoint makes of each (unseen) object's ground-truth box.

    run: a finished run (``tspsis.engine.work_dir.Run``) of a Mask R-CNN + ours config (``TeacherStudentRoIHead``);
    dataset: the COCO ground truth of ``objects`` (its annotations of ``seen_category_ids`` are the seen masks);
    image_dir: where its images are. Every mask comes from the head's own
    :meth:`~tspsis.plugin.roi_heads.teacher_student.TeacherStudentRoIHead.explain` on the image as the test pipeline
    loads it, the image's seen-category masks brought to the same frame as training brings them (nearest-neighbour
    resize, zero padding). One :class:`ObjectExplanation` per object, in order.
    """
    import torch
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    from tspsis.core.pseudo import union_mask_on_rois
    from tspsis.plugin.data_preprocessors.image_keeping import rgb_inputs
    from tspsis.plugin.utils.partial_supervision import seen_union_masks

    model, pipeline = load_run_model(run)
    roi_head = model.roi_head
    if not hasattr(roi_head, "explain"):
        raise ValueError(f"{run.work_dir}: {type(roi_head).__name__} has no teacher head (a '+ ours' run is needed)")
    labels = _labels(dataset)
    images = {img["id"]: img for img in dataset["images"]}
    seen = set(seen_category_ids)
    explained = []
    with torch.no_grad():
        for ann in objects:
            image = images[ann["image_id"]]
            data, batch, feats, box = through_network(model, pipeline, Path(image_dir) / image["file_name"],
                                                      image["id"], ann["bbox"])
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
            explained.append(ObjectExplanation(own, compared, union_mask_on_rois(
                own.rois, torch.zeros(1, dtype=torch.long), gt, own.teacher.shape[-2:])[0]))
    return explained


def opmask_cams(run, dataset: Mapping, image_dir: str | os.PathLike, objects: Sequence[Mapping]) -> list[np.ndarray]:
    """Eq. 9 for each ground-truth object: the CAM of its own class on its box, from a trained OPMask run.

    run: a finished ``tspsis.engine.work_dir.Run`` of an OPMask config (box head ``CAMBBoxHead``). The image goes
    through the run's test pipeline and backbone; the box is RoI-aligned like a proposal; F (1, D, 7, 7) from the
    box head's convolutions gives cam_ij = F_ij . W_cls + b_cls for the object's class. Returns one (7, 7) map per
    object, min-max normalised to [0, 1] (``tspsis.core.cam.normalize_cam``).
    """
    import torch
    from mmdet.structures.bbox import bbox2roi

    from tspsis.core.cam import normalize_cam

    model, pipeline = load_run_model(run)
    if not hasattr(model.roi_head.bbox_head, "cam_for_labels"):
        raise ValueError(f"{run.work_dir}: the box head {type(model.roi_head.bbox_head).__name__} has no "
                         "class-activation maps (Eq. 9 needs OPMask's CAMBBoxHead)")
    labels = _labels(dataset)
    images = {img["id"]: img for img in dataset["images"]}
    extractor = model.roi_head.bbox_roi_extractor
    cams = []
    with torch.no_grad():
        for ann in objects:
            image = images[ann["image_id"]]
            _, _, feats, box = through_network(model, pipeline, Path(image_dir) / image["file_name"], image["id"],
                                               ann["bbox"])
            box_feats = extractor(feats[:extractor.num_inputs], bbox2roi([box]))
            head = model.roi_head.bbox_head
            cam = head.cam_for_labels(head.features(box_feats), torch.tensor([labels[ann["category_id"]]]))
            cams.append(normalize_cam(cam[0, 0]).numpy())
    return cams
