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
  ``configs/_base_/tracks/box-conditioned.py`` merged over the config (``tspsis.apis.box_conditioned``): the RPN
  is replaced by ``GroundTruthProposals`` and ``test_cfg.rcnn.given_boxes=True``, the boxes and labels become the
  data sample's ``gt_instances``, and the RoI head predicts a mask for each (score: the mask's mean foreground
  probability; every box is kept unless T is given). This is how box-only data becomes masks. A detector-track
  checkpoint works too (its RPN weights are then unused). ``BOXES`` is one of
    - a COCO file (``images`` + ``annotations`` with ``bbox`` xywh + ``categories``), images matched to the
      inputs by ``file_name``; crowd annotations are skipped (COCO evaluation ignores them, as mmdet's dataset
      does), so the masks equal the box-conditioned evaluation of the same file;
    - a per-image JSON ``{"boxes": [[x1, y1, x2, y2], ...], "labels": ["name", ...]}`` (one INPUT image);
    - a folder of such files, ``<image stem>.json`` per input image.
  Labels are the model's class names (its checkpoint's ``meta.dataset_meta``, else the config's test annotation
  file); boxes must lie inside their image (1 px of slack, clipped).

The model, the given boxes and the COCO records are :mod:`tspsis.apis`'s (``Predictor``, ``read_boxes``,
``coco_records``: how the model is loaded, which test pipeline runs and at which image size); this module handles
the arguments and writes the files, overlays drawn by :func:`tspsis.viz.overlay.draw_overlay`, the progress bar is
tqdm.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tspsis.apis import BoxSource, Predictor, coco_records, collect_images, read_boxes
from tspsis.core.io import write_json_atomic
from tspsis.viz.overlay import draw_overlay

__all__ = ["PredictRun", "predict"]

RESULTS_FILE = "results.segm.json"
DEFAULT_SCORE_THR = 0.3  # detection mode; given boxes keep every box unless --score-thr is given


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
    from tspsis.engine.config import load_config

    for path in (config, *mixins):
        if not Path(path).is_file():
            raise FileNotFoundError(f"config file not found: {path}")
    cfg = load_config(str(config), str(out_dir), [], data_root, mixins=[str(m) for m in mixins])
    images = collect_images(inputs)
    source = read_boxes(boxes, images) if boxes is not None else None
    predictor = Predictor(cfg, checkpoint, given_boxes=source is not None, device=device, config_name=str(config))
    if source is not None:
        predictor.check_labels(source)
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
        records = coco_records(pred, predictor.classes, predictor.category_ids, cat_id_by_name)
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
