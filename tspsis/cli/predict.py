"""``tspsis predict``: instance masks for images, detected by a model or for boxes the user gives.

    tspsis predict CONFIG CHECKPOINT INPUT... --out-dir DIR [--mixin FILE ...] [--score-thr T]
        [--boxes BOXES] [--device cpu] [--data-root ROOT]

INPUT: image files and/or folders (their images, not recursive). Out, per image, ``DIR/preds/<name>.json``
(COCO-style: RLE masks, ``bbox`` xywh, category name and id, score) and ``DIR/vis/<name>.png`` (masks coloured,
boxes, labels), and for all images ``DIR/results.segm.json``. All or nothing: the files are written into
``.<DIR name>.partial`` beside ``DIR`` and moved into ``DIR`` when every image is done (replacing the ``preds``,
``vis`` and results of an earlier run; other files in ``DIR`` are left alone), so a failure or a kill leaves ``DIR``
as it was: the COCO results list (every detection, whatever
``--score-thr``; scoring needs the full ranked list), scorable with pycocotools against a ground truth whose
image ids are those of ``--boxes`` (a COCO file), else 1..N in input order (written in each ``preds`` file).

Two modes:

* detection (no ``--boxes``): the model's own detections (a detector-track model), kept if score >= T (0.3).
* given boxes (``--boxes``): the box-conditioned track (``tspsis.plugin.roi_heads.box_conditioned``), its mixin
  ``configs/_base_/tracks/box-conditioned.py`` merged over the config (``box_conditioned``): the RPN is replaced
  by ``GroundTruthProposals`` and ``test_cfg.rcnn.given_boxes=True``, the boxes and labels become the data
  sample's ``gt_instances``, and the RoI head predicts a mask for each (score: the mask's mean foreground
  probability; every box is kept unless T is given). This is how box-only data becomes masks. A detector-track
  checkpoint works too (its RPN weights are then unused). ``BOXES`` is one of
    - a COCO file (``images`` + ``annotations`` with ``bbox`` xywh + ``categories``), images matched to the
      inputs by ``file_name``; crowd annotations are skipped (COCO evaluation ignores them, as mmdet's dataset
      does), so the masks equal the box-conditioned evaluation of the same file;
    - a per-image JSON ``{"boxes": [[x1, y1, x2, y2], ...], "labels": ["name", ...]}`` (one INPUT image);
    - a folder of such files, ``<image stem>.json`` per input image.
  Labels are the model's class names (its checkpoint's ``meta.dataset_meta``, else the config's test annotation
  file); boxes must lie inside their image (1 px of slack, clipped).

Built on mmdet's ``DetInferencer`` for the model (config object + checkpoint, class names) and its test pipeline
(``preprocess``/``forward``); not its ``__call__``: results here carry category names and ids and a COCO results
file, overlays are drawn by :func:`draw_overlay`, the progress bar is tqdm, and each image is decoded by the
config's own loader first so that unreadable images and boxes outside the image fail with the file's name.

Image size: the config's test pipeline is kept. The synthetic configs' ``Resize(scale_factor=1.0)`` runs an
image at its own size — the pixel scale the model was trained at; a 1024x768 image takes seconds on a CPU
(tests/cli/test_predict.py). Given boxes are loaded before any resize, so they follow the image.
"""
from __future__ import annotations

import copy
import os
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tspsis.cli.given_boxes import IMG_EXTENSIONS, BoxSource, GivenBoxes, collect_images, read_boxes
from tspsis.core.io import read_json, write_json_atomic
from tspsis.viz.overlay import draw_overlay

__all__ = ["IMG_EXTENSIONS", "PredictRun", "Predictor", "box_conditioned", "collect_images", "draw_overlay",
           "predict", "read_boxes"]

RESULTS_FILE = "results.segm.json"
DEFAULT_SCORE_THR = 0.3  # detection mode; given boxes keep every box unless --score-thr is given
BOX_SLACK = 1.0  # px a given box may extend past the image border (then clipped)
_ANNOTATION_LOADERS = ("LoadAnnotations", "mmdet.LoadAnnotations", "LoadPartialAnnotations")


# ------------------------------------------------------------------------------------------------- model
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
        loader = next((i for i, t in enumerate(steps) if t["type"] in ("LoadImageFromFile", "mmcv.LoadImageFromFile")),
                      None)
        if loader is None:
            raise ValueError("the config's test pipeline has no LoadImageFromFile")
        steps.insert(loader + 1, dict(type="LoadAnnotations", with_bbox=True))
    return steps


def box_conditioned(cfg):
    """``cfg`` (an ``mmengine.Config``, changed in place and returned) in the box-conditioned track: the track's own
    mixin merged over it (``tspsis.lab.profiles.BOX_TRACK_MIXIN``, the file the experiments merge; its keys live
    there only). At test time that is the RPN replaced by ``GroundTruthProposals`` and ``test_cfg.rcnn.given_boxes``;
    its training keys (sampler, pseudo-mask monitor, mask IoU of the evaluator) do not act on a prediction.
    Merging it over a box-conditioned config changes nothing that predicts."""
    from tspsis.core.paths import CONFIGS
    from tspsis.engine.runner import merge_mixin
    from tspsis.lab.profiles import BOX_TRACK_MIXIN

    merge_mixin(cfg, CONFIGS / BOX_TRACK_MIXIN)
    return cfg


def _box_conditioned(cfg) -> bool:
    model = cfg.model
    rpn = model.get("rpn_head") or {}
    rcnn = (model.get("test_cfg") or {}).get("rcnn") or {}
    return rpn.get("type") == "GroundTruthProposals" or bool(rcnn.get("given_boxes", False))


class Predictor:
    """A model ready to predict single images (``DetInferencer`` underneath, see the module docstring).

    Args:
        config: config file or ``mmengine.Config`` (mixins already merged).
        checkpoint: mmengine checkpoint (``state_dict`` [+ ``meta.dataset_meta``]), loaded weights-only.
        given_boxes: the box-conditioned mode (``__call__`` then needs boxes).
        device: e.g. 'cpu', 'cuda:0'; None: CUDA when available.
        config_name: how errors name the config.
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
        from tspsis.plugin.roi_heads.teacher_student import PartialRoIHead

        register_all_modules(init_default_scope=True)
        name = config_name or str(config)
        cfg = copy.deepcopy(config) if isinstance(config, Config) else Config.fromfile(str(config))
        check_checkpoint_file(checkpoint)  # missing, or corrupt or truncated: one line before mmdet reads it
        if given_boxes:
            if "rpn_head" not in cfg.model or "roi_head" not in cfg.model:
                raise ValueError(f"{name}: --boxes needs a two-stage model (rpn_head + roi_head); "
                                 f"{cfg.model.get('type')} has none")
            cfg = box_conditioned(cfg)
        elif _box_conditioned(cfg):
            raise ValueError(f"{name}: a box-conditioned model (its RPN is GroundTruthProposals / "
                             "test_cfg.rcnn.given_boxes): it segments given boxes, pass --boxes")
        pipeline = cfg.test_dataloader.dataset.pipeline
        loader_cfg = next((t for t in pipeline if t["type"] in ("LoadImageFromFile", "mmcv.LoadImageFromFile")),
                          None)
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
        """The image decoded by the config's own loader (BGR uint8); errors name the file."""
        try:
            return self.load_image(dict(img_path=str(path)))
        except Exception as err:  # noqa: BLE001 (any decoder failure is "cannot read")
            raise ValueError(f"{path}: cannot read the image ({type(err).__name__}: {err})") from None

    def given_instances(self, given: GivenBoxes, path: Path, height: int, width: int) -> list[dict]:
        """mmdet ``instances`` of the given boxes; unknown labels and boxes outside the image raise."""
        if given.size is not None and tuple(given.size) != (width, height):
            raise ValueError(f"{given.source}: the entry of {path} says {given.size[0]}x{given.size[1]} px, "
                             f"the image is {width}x{height}")
        instances = []
        for box, label, where in zip(given.boxes, given.labels, given.fields):
            if label not in self.class_index:
                raise ValueError(f"{given.source}: {where.removesuffix('.bbox')} label {label!r} is not a class of "
                                 f"the model ({', '.join(self.classes)})")
            x1, y1, x2, y2 = box
            if (min(x1, x2) < -BOX_SLACK or min(y1, y2) < -BOX_SLACK or max(x1, x2) > width + BOX_SLACK
                    or max(y1, y2) > height + BOX_SLACK):
                raise ValueError(f"{given.source}: {where} {box} (xyxy) lies outside image {path} "
                                 f"({width}x{height})")
            x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
            y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
            if x2 - x1 < 1 or y2 - y1 < 1:
                raise ValueError(f"{given.source}: {where} {box} (xyxy) is less than 1 px wide or high")
            instances.append(dict(bbox=[x1, y1, x2, y2], bbox_label=self.class_index[label], ignore_flag=0))
        return instances

    def __call__(self, path: Path, given: GivenBoxes | None = None) -> tuple[np.ndarray, dict]:
        """(BGR image, predictions: ``bboxes`` (N, 4) xyxy, ``labels`` (N,), ``scores`` (N,), ``masks``
        (N, H, W) bool), all in the image's pixels."""
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


def _instances(pred: dict, classes: Sequence[str], category_ids: Sequence[int],
               cat_id_by_name: dict[str, int]) -> list[dict]:
    """COCO-style records of one image's predictions (RLE masks, bbox xywh, category name and id, score)."""
    from pycocotools import mask as mask_util

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


# --------------------------------------------------------------------------------------------------- run
@dataclass
class PredictRun:
    out_dir: Path
    results_file: Path                 # DIR/results.segm.json
    images: list[dict]                 # per image: file, id, preds (its JSON), overlay, instances (count kept)

    @property
    def num_instances(self) -> int:
        return sum(item["instances"] for item in self.images)


def _unique_names(images: Sequence[Path]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for image in images:
        count = seen.get(image.stem, 0)
        seen[image.stem] = count + 1
        names.append(image.stem if count == 0 else f"{image.stem}_{count}")
    return names


def predict(config: str | os.PathLike, checkpoint: str | os.PathLike, inputs: Sequence[str | os.PathLike],
            out_dir: str | os.PathLike, *, mixins: Sequence[str | os.PathLike] = (), score_thr: float | None = None,
            boxes: str | os.PathLike | None = None, device: str | None = None,
            data_root: str | os.PathLike | None = None, progress: bool = True) -> PredictRun:
    """Predict ``inputs`` (images / folders) and write ``out_dir``'s files (see the module docstring)."""
    from tspsis.engine.runner import load_config

    for path in (config, *mixins):
        if not Path(path).is_file():
            raise FileNotFoundError(f"config file not found: {path}")
    cfg = load_config(str(config), str(out_dir), [], data_root, mixins=[str(m) for m in mixins])
    images = collect_images(inputs)
    source = read_boxes(boxes, images) if boxes is not None else None
    predictor = Predictor(cfg, checkpoint, given_boxes=source is not None, device=device, config_name=str(config))
    if source is not None:  # unknown category names fail before any image is run
        for given in source.per_image.values():
            for label, where in zip(given.labels, given.fields):
                if label not in predictor.class_index:
                    raise ValueError(f"{given.source}: {where.removesuffix('.bbox')} label {label!r} is not a class "
                                     f"of the model ({', '.join(predictor.classes)})")
    thr = score_thr if score_thr is not None else (0.0 if source is not None else DEFAULT_SCORE_THR)
    cat_id_by_name = source.category_ids if source is not None else {}

    out = Path(out_dir)
    stage = out.parent / f".{out.name}.partial"  # all-or-nothing: moved into `out` once every image is done
    shutil.rmtree(stage, ignore_errors=True)  # what a killed run left
    (stage / "preds").mkdir(parents=True)
    (stage / "vis").mkdir()
    try:
        summary = _predict_images(predictor, images, source, thr, cat_id_by_name, out, stage, config, mixins,
                                  checkpoint, progress)
        _publish(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return PredictRun(out, out / RESULTS_FILE, summary)


def _predict_images(predictor: Predictor, images: list[Path], source: BoxSource | None, thr: float,
                    cat_id_by_name: dict, out: Path, stage: Path, config, mixins, checkpoint,
                    progress: bool) -> list[dict]:
    """Predict every image into ``stage`` (``preds``, ``vis``, ``RESULTS_FILE``); the summary names the files
    as they will be in ``out``."""
    import cv2
    from tqdm import tqdm

    results, summary = [], []
    for number, (image, name) in enumerate(tqdm(list(zip(images, _unique_names(images))), desc="predict",
                                                 unit="img", disable=not progress), start=1):
        given = source.per_image[image] if source is not None else None
        img, pred = predictor(image, given)
        records = _instances(pred, predictor.classes, predictor.category_ids, cat_id_by_name)
        image_id = given.image_id if given is not None and given.image_id is not None else number
        results += [dict(image_id=image_id, category_id=r["category_id"], bbox=r["bbox"], score=r["score"],
                         segmentation=r["segmentation"]) for r in records]
        kept = [r for r in records if r["score"] >= thr]
        height, width = img.shape[:2]
        pred_file, vis_file = Path("preds") / f"{name}.json", Path("vis") / f"{name}.png"
        write_json_atomic(stage / pred_file, dict(
            image=dict(id=image_id, file_name=image.name, path=str(image), width=width, height=height),
            mode="given_boxes" if source is not None else "detection", score_thr=thr,
            config=str(config), mixins=[str(m) for m in mixins], checkpoint=str(checkpoint),
            instances=kept), indent=1)
        if not cv2.imwrite(str(stage / vis_file), draw_overlay(img, kept)):
            raise OSError(f"{out / vis_file}: could not write the overlay")
        summary.append(dict(file=str(image), id=image_id, preds=str(out / pred_file), overlay=str(out / vis_file),
                            instances=len(kept)))
    write_json_atomic(stage / RESULTS_FILE, results)
    return summary


def _publish(stage: Path, out: Path) -> None:
    """Move ``stage``'s outputs into ``out``, each replacing the one of an earlier run (which goes into ``stage``,
    removed afterwards); the results file last: it is there only if the overlays beside it are complete."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("preds", "vis", RESULTS_FILE):
        if (out / name).exists():
            os.replace(out / name, stage / f"earlier-{name}")
        os.replace(stage / name, out / name)
