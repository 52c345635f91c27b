"""Instance masks of single images from a config + checkpoint: the model's own detections, or the masks of boxes
given for the image (the box-conditioned inference, :mod:`tspsis.plugin.roi_heads.box_conditioned`).

Typical use::

    predictor = Predictor(cfg, "iter_2000.pth", given_boxes=True)
    source = read_boxes("boxes.json", [image])         # tspsis.apis.inputs
    predictor.check_labels(source)
    img, pred = predictor(image, source.per_image[image])
    records = coco_records(pred, predictor.classes, predictor.category_ids)

Built on mmdet's ``DetInferencer`` for the model (config object + checkpoint, class names) and its test pipeline
(``preprocess``/``forward``); not its ``__call__``: each image is decoded by the config's own loader first so that
unreadable images and boxes outside the image fail with the file's name. With given boxes the track's mixin
(:func:`tspsis.apis.tracks.box_conditioned`) is merged over the config: the RPN is replaced by
``GroundTruthProposals``, the boxes and labels become the data sample's ``gt_instances``, and the RoI head predicts
a mask for each (score: the mask's mean foreground probability). A detector-track checkpoint works too (its RPN
weights are then unused).

Image size: the config's test pipeline is kept. The synthetic configs' ``Resize(scale_factor=1.0)`` runs an image
at its own size — the pixel scale the model was trained at; a 1024x768 image takes seconds on a CPU. Given boxes
are loaded before any resize, so they follow the image.
"""
from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tspsis.apis.inputs import BoxSource, GivenBoxes
from tspsis.apis.tracks import box_conditioned, is_box_conditioned
from tspsis.core.io import read_json

__all__ = ["BOX_SLACK", "Predictor", "coco_records"]

BOX_SLACK = 1.0  # px a given box may extend past the image border (then clipped)
_ANNOTATION_LOADERS = ("LoadAnnotations", "mmdet.LoadAnnotations", "LoadPartialAnnotations")
_IMAGE_LOADERS = ("LoadImageFromFile", "mmcv.LoadImageFromFile")


def _categories_of(cfg) -> list[dict] | None:
    """``categories`` of the config's test annotation file, or None when it cannot be read."""
    dataset = cfg.test_dataloader.dataset
    ann_file = dataset.get("ann_file")
    if not ann_file:
        return None
    path = Path(ann_file) if os.path.isabs(ann_file) else Path(dataset.get("data_root") or "") / ann_file
    if not path.is_file():
        return None
    categories = read_json(path, "annotation").get("categories")
    return sorted(categories, key=lambda c: c["id"]) if isinstance(categories, list) else None


def _test_pipeline(pipeline: list, given_boxes: bool) -> list:
    """The config's test pipeline without its annotation loaders; with given boxes, ``LoadAnnotations`` (boxes
    only) right after the image loader, so a ``Resize`` that follows scales the boxes with the image."""
    steps = [copy.deepcopy(t) for t in pipeline if t["type"] not in _ANNOTATION_LOADERS]
    if given_boxes:
        loader = next((i for i, t in enumerate(steps) if t["type"] in _IMAGE_LOADERS), None)
        if loader is None:
            raise ValueError("the config's test pipeline has no LoadImageFromFile")
        steps.insert(loader + 1, dict(type="LoadAnnotations", with_bbox=True))
    return steps


class Predictor:
    """A model ready to predict single images (``DetInferencer`` underneath, see the module docstring).

    Args:
        config: config file or ``mmengine.Config`` (mixins already merged).
        checkpoint: mmengine checkpoint (``state_dict`` [+ ``meta.dataset_meta``]), loaded weights-only.
        given_boxes: the box-conditioned mode (``__call__`` then needs boxes).
        device: e.g. 'cpu', 'cuda:0'; None: CUDA when available.
        config_name: how errors name the config.

    Attributes:
        classes: the model's C class names (its checkpoint's ``meta.dataset_meta``, else the config's test
            annotation file or metainfo); a prediction's ``labels`` index them.
        category_ids: (C,) the COCO category id of each class (the test annotation file's, else 1..C).
        class_index: class name -> label.
    """

    def __init__(self, config, checkpoint: str | os.PathLike, *, given_boxes: bool = False,
                 device: str | None = None, config_name: str | None = None) -> None:
        from mmdet.apis import DetInferencer
        from mmdet.registry import TRANSFORMS
        from mmdet.utils import register_all_modules
        from mmengine.config import Config

        import tspsis.plugin  # noqa: F401  (registers the plugin, weights-only checkpoint loading)
        from tspsis.core.checkpoint import check_checkpoint_file
        from tspsis.plugin.detectors.grabcut import MaskGrabCut
        from tspsis.plugin.roi_heads.partial_roi_head import PartialRoIHead

        register_all_modules(init_default_scope=True)
        name = config_name or str(config)
        cfg = copy.deepcopy(config) if isinstance(config, Config) else Config.fromfile(str(config))
        check_checkpoint_file(checkpoint)  # missing, or corrupt or truncated: one line before mmdet reads it
        if given_boxes:
            if "rpn_head" not in cfg.model or "roi_head" not in cfg.model:
                raise ValueError(f"{name}: --boxes needs a two-stage model (rpn_head + roi_head); "
                                 f"{cfg.model.get('type')} has none")
            cfg = box_conditioned(cfg)
        elif is_box_conditioned(cfg):
            raise ValueError(f"{name}: a box-conditioned model (its RPN is GroundTruthProposals / "
                             "test_cfg.rcnn.given_boxes): it segments given boxes, pass --boxes")
        pipeline = cfg.test_dataloader.dataset.pipeline
        loader_cfg = next((t for t in pipeline if t["type"] in _IMAGE_LOADERS), None)
        if loader_cfg is None:
            raise ValueError(f"{name}: the test pipeline has no LoadImageFromFile")
        self.load_image = TRANSFORMS.build(copy.deepcopy(loader_cfg))
        cfg.test_dataloader.dataset.pipeline = _test_pipeline(pipeline, given_boxes)
        self.cfg, self.given_boxes, self.checkpoint = cfg, given_boxes, str(checkpoint)
        self._categories = _categories_of(cfg)

        predictor = self

        class _Inferencer(DetInferencer):
            def _load_weights_to_model(self, model, checkpoint, cfg):  # DetInferencer's hook
                predictor._check_weights(model, checkpoint, name)
                super()._load_weights_to_model(model, checkpoint, cfg)
                model.dataset_meta = predictor._dataset_meta(checkpoint, name)

        with warnings.catch_warnings():  # COCO-classes fallback (replaced above), visualizer backends (unused)
            warnings.simplefilter("ignore")
            self.inferencer = _Inferencer(cfg, str(checkpoint), device=device, show_progress=False)
        model = self.inferencer.model
        if given_boxes and not (isinstance(model.roi_head, PartialRoIHead) or isinstance(model, MaskGrabCut)):
            raise ValueError(f"{name}: its RoI head {type(model.roi_head).__name__} does not predict masks of "
                             "given boxes (tspsis' PartialRoIHead and its subclasses, MaskGrabCut do)")
        self.classes: tuple[str, ...] = tuple(model.dataset_meta["classes"])
        num_classes = getattr(getattr(model.roi_head, "bbox_head", None), "num_classes", len(self.classes))
        if num_classes != len(self.classes):
            raise ValueError(f"{name}: the model has {num_classes} classes, its class names {len(self.classes)}")
        self.class_index = {c: i for i, c in enumerate(self.classes)}
        ids = {c["name"]: c["id"] for c in self._categories or []}
        self.category_ids = [ids.get(c, i + 1) for i, c in enumerate(self.classes)]

    def _check_weights(self, model, checkpoint: dict | None, name: str) -> None:
        state = (checkpoint or {}).get("state_dict", checkpoint or {})
        state = {k.removeprefix("module."): v for k, v in state.items()}
        missing = [k for k in model.state_dict() if k not in state]
        if missing:
            raise ValueError(f"{self.checkpoint}: does not fit {name}: {len(missing)} of the model's weights are "
                             f"missing (e.g. {', '.join(missing[:3])})")

    def _dataset_meta(self, checkpoint: dict | None, name: str) -> dict:
        """Class names: the checkpoint's ``meta.dataset_meta`` (what mmengine's Runner saves), else the config's
        test annotation file (categories in id order, as ``PartialCocoDataset`` reads them) or metainfo."""
        meta = ((checkpoint or {}).get("meta") or {}).get("dataset_meta") or {}
        classes = meta.get("classes") or meta.get("CLASSES")
        if not classes and self._categories:
            classes = [c["name"] for c in self._categories]
        if not classes:
            classes = (self.cfg.test_dataloader.dataset.get("metainfo") or {}).get("classes")
        if not classes:
            raise ValueError(f"{self.checkpoint}: no class names (no meta.dataset_meta) and the test annotation "
                             f"file of {name} cannot be read; pass --data-root")
        return dict(classes=tuple(classes))

    # ---------------------------------------------------------------------------------------------- predict
    def read_image(self, path: Path) -> dict:
        """The image decoded by the config's own loader (``img``: (H, W, 3) BGR uint8); errors name the file."""
        try:
            return self.load_image(dict(img_path=str(path)))
        except Exception as err:  # noqa: BLE001 (any decoder failure is "cannot read")
            raise ValueError(f"{path}: cannot read the image ({type(err).__name__}: {err})") from None

    def label_of(self, given: GivenBoxes, label: str, where: str) -> int:
        """The model's label of the class name ``label`` of the box at ``where`` in ``given``; unknown names raise."""
        if label not in self.class_index:
            raise ValueError(f"{given.source}: {where.removesuffix('.bbox')} label {label!r} is not a class of "
                             f"the model ({', '.join(self.classes)})")
        return self.class_index[label]

    def check_labels(self, source: BoxSource) -> None:
        """Raise on the first class name of ``source`` the model does not know, before any image is run."""
        for given in source.per_image.values():
            for label, where in zip(given.labels, given.fields):
                self.label_of(given, label, where)

    def given_instances(self, given: GivenBoxes, path: Path, height: int, width: int) -> list[dict]:
        """mmdet ``instances`` of the given boxes (``bbox`` xyxy clipped to the H x W image, ``bbox_label``);
        unknown labels and boxes outside the image raise."""
        if given.size is not None and tuple(given.size) != (width, height):
            raise ValueError(f"{given.source}: the entry of {path} says {given.size[0]}x{given.size[1]} px, "
                             f"the image is {width}x{height}")
        instances = []
        for box, label, where in zip(given.boxes, given.labels, given.fields):
            bbox_label = self.label_of(given, label, where)
            x1, y1, x2, y2 = box
            if (min(x1, x2) < -BOX_SLACK or min(y1, y2) < -BOX_SLACK or max(x1, x2) > width + BOX_SLACK
                    or max(y1, y2) > height + BOX_SLACK):
                raise ValueError(f"{given.source}: {where} {box} (xyxy) lies outside image {path} "
                                 f"({width}x{height})")
            x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
            y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
            if x2 - x1 < 1 or y2 - y1 < 1:
                raise ValueError(f"{given.source}: {where} {box} (xyxy) is less than 1 px wide or high")
            instances.append(dict(bbox=[x1, y1, x2, y2], bbox_label=bbox_label, ignore_flag=0))
        return instances

    def __call__(self, path: Path, given: GivenBoxes | None = None) -> tuple[np.ndarray, dict]:
        """Predict the image file ``path``; with given boxes (the box-conditioned mode) one instance per box of
        ``given``, in its order.

        Returns (img, pred): img (H, W, 3) BGR uint8 as the config's loader decodes it; pred, all in the image's
        pixels, N instances: ``bboxes`` (N, 4) float64 xyxy, ``labels`` (N,) int64 indices into ``classes``,
        ``scores`` (N,) float64, ``masks`` (N, H, W) bool.
        """
        results = self.read_image(path)
        img = results["img"]
        height, width = img.shape[:2]
        inputs = dict(img=img)
        if self.given_boxes:
            if given is None:
                raise ValueError(f"{path}: no boxes given for this image")
            inputs["instances"] = self.given_instances(given, path, height, width)
            if not inputs["instances"]:
                return img, _empty(height, width)
        try:
            _, data = next(iter(self.inferencer.preprocess([inputs], batch_size=1)))
        except Exception as err:
            raise ValueError(f"{path}: the test pipeline failed ({type(err).__name__}: {err})") from err
        pred = self.inferencer.forward(data)[0].pred_instances
        out = dict(bboxes=pred.bboxes.detach().cpu().numpy().astype(np.float64).reshape(-1, 4),
                   labels=pred.labels.detach().cpu().numpy().astype(np.int64),
                   scores=pred.scores.detach().cpu().numpy().astype(np.float64))
        masks = pred.get("masks")
        out["masks"] = (np.zeros((len(out["scores"]), height, width), bool) if masks is None
                        else masks.detach().cpu().numpy().astype(bool))
        return img, out


def _empty(height: int, width: int) -> dict:
    return dict(bboxes=np.zeros((0, 4)), labels=np.zeros(0, np.int64), scores=np.zeros(0),
                masks=np.zeros((0, height, width), bool))


def coco_records(pred: Mapping[str, np.ndarray], classes: Sequence[str], category_ids: Sequence[int],
                 cat_id_by_name: Mapping[str, int] | None = None) -> list[dict]:
    """COCO-style records of one image's predictions, one per instance in ``pred``'s order.

    pred: a :class:`Predictor`'s (``bboxes`` (N, 4) xyxy, ``labels`` (N,), ``scores`` (N,), ``masks`` (N, H, W)
    bool); classes, category_ids: (C,) the model's class names and their category ids; cat_id_by_name: category
    ids that take precedence (a given COCO box file's). Each record: ``category_id``, ``category_name``, ``label``,
    ``score``, ``bbox`` xywh, ``area`` (mask pixels) and ``segmentation`` (RLE of the (H, W) mask, ``counts`` str).
    """
    from pycocotools import mask as mask_util

    cat_id_by_name = cat_id_by_name or {}
    records = []
    for box, label, score, mask in zip(pred["bboxes"], pred["labels"], pred["scores"], pred["masks"]):
        rle = mask_util.encode(np.asfortranarray(mask[:, :, None], dtype=np.uint8))[0]
        name = classes[int(label)]
        x1, y1, x2, y2 = (float(v) for v in box)
        records.append(dict(category_id=int(cat_id_by_name.get(name, category_ids[int(label)])), category_name=name,
                            label=int(label), score=float(score), bbox=[x1, y1, x2 - x1, y2 - y1],
                            area=int(mask_util.area(rle)),
                            segmentation=dict(size=[int(s) for s in rle["size"]], counts=rle["counts"].decode())))
    return records
