"""What inference reads besides the model: the input images and the boxes given for them.

``collect_images`` expands files and folders into image files; ``read_boxes`` reads a box source (a COCO file, a
per-image JSON, or a folder of them; the formats are those of ``tspsis predict --boxes``, :mod:`tspsis.cli.predict`)
into one :class:`GivenBoxes` per image, with every malformed field named by its file.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tspsis.core.io import read_json

__all__ = ["IMG_EXTENSIONS", "BoxSource", "GivenBoxes", "collect_images", "read_boxes"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def collect_images(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Image files of ``inputs`` (files as given, folders: their images sorted by name, not recursive)."""
    images: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
            if not found:
                raise ValueError(f"{item}: folder has no images ({', '.join(IMG_EXTENSIONS)})")
            images += found
        elif item.is_file():
            images.append(item)
        else:
            raise FileNotFoundError(f"input not found: {item}")
    return images


@dataclass
class GivenBoxes:
    """The boxes given for one image: xyxy boxes, label names, and where each came from (for errors)."""
    source: str                      # "BOXES.json" (the file)
    boxes: list[list[float]]         # xyxy, image pixels
    labels: list[str]
    fields: list[str]                # "annotations[12] (id 345)" / "boxes[3]", one per box
    image_id: int | None = None      # the COCO file's image id
    size: tuple[int, int] | None = None  # (width, height) the COCO file states


@dataclass
class BoxSource:
    """A parsed box source: given boxes per input image and category ids by name (a COCO file's)."""
    per_image: dict[Path, GivenBoxes]
    category_ids: dict[str, int] = field(default_factory=dict)


def _number_list(value: Any, length: int) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == length
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))


def _per_image_boxes(path: Path, data: Any) -> GivenBoxes:
    if not isinstance(data, dict) or "boxes" not in data:
        raise ValueError(f"{path}: expected a COCO file (images, annotations, categories) or a per-image "
                         'JSON {"boxes": [[x1, y1, x2, y2], ...], "labels": ["name", ...]}')
    boxes, labels = data["boxes"], data.get("labels")
    if not isinstance(boxes, list):
        raise ValueError(f"{path}: `boxes` must be a list of [x1, y1, x2, y2]")
    if not isinstance(labels, list) or len(labels) != len(boxes):
        raise ValueError(f"{path}: `labels` must be a list of category names, one per box "
                         f"({len(boxes)} boxes, labels {'missing' if labels is None else len(labels)})")
    for i, (box, label) in enumerate(zip(boxes, labels)):
        if not _number_list(box, 4):
            raise ValueError(f"{path}: boxes[{i}] must be 4 finite numbers [x1, y1, x2, y2], got {box!r}")
        if not isinstance(label, str):
            raise ValueError(f"{path}: labels[{i}] must be a category name (string), got {label!r}")
    return GivenBoxes(str(path), [list(map(float, b)) for b in boxes], list(labels),
                      [f"boxes[{i}]" for i in range(len(boxes))])


def _coco_boxes(path: Path, coco: dict, images: Sequence[Path]) -> BoxSource:
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise ValueError(f"{path}: COCO file without a `{key}` list")
    names: dict[int, str] = {}
    for i, cat in enumerate(coco["categories"]):
        if not isinstance(cat, dict) or "id" not in cat or not isinstance(cat.get("name"), str):
            raise ValueError(f"{path}: categories[{i}] needs an `id` and a `name`")
        names[cat["id"]] = cat["name"]
    by_name: dict[str, list[dict]] = {}
    for i, img in enumerate(coco["images"]):
        if not isinstance(img, dict) or "id" not in img or not isinstance(img.get("file_name"), str):
            raise ValueError(f"{path}: images[{i}] needs an `id` and a `file_name`")
        by_name.setdefault(Path(img["file_name"]).name, []).append(img)

    per_image: dict[Path, GivenBoxes] = {}
    wanted: dict[Any, GivenBoxes] = {}
    for image in images:
        # a file_name may hold folders ("val/000001.png"): it matches an input whose path ends with it
        matches = [img for img in by_name.get(image.name, [])
                   if Path(image.resolve()).as_posix().endswith("/" + Path(img["file_name"]).as_posix())]
        if not matches:
            raise ValueError(f"{path}: no entry in `images` whose file_name matches input {image}")
        if len(matches) > 1:
            raise ValueError(f"{path}: input {image} matches several `images` entries "
                             f"(ids {[m['id'] for m in matches]}); give file_names that tell them apart")
        img = matches[0]
        size = (img["width"], img["height"]) if "width" in img and "height" in img else None
        given = GivenBoxes(str(path), [], [], [], image_id=img["id"], size=size)
        per_image[image] = wanted[img["id"]] = given
    for i, ann in enumerate(coco["annotations"]):
        if not isinstance(ann, dict) or ann.get("image_id") not in wanted:
            continue
        where = f"annotations[{i}]" + (f" (id {ann['id']})" if "id" in ann else "")
        if ann.get("iscrowd", 0):
            continue
        if not _number_list(ann.get("bbox"), 4):
            raise ValueError(f"{path}: {where}.bbox must be 4 finite numbers [x, y, w, h], got {ann.get('bbox')!r}")
        if ann.get("category_id") not in names:
            raise ValueError(f"{path}: {where}.category_id {ann.get('category_id')!r} is not in `categories`")
        x, y, w, h = map(float, ann["bbox"])
        given = wanted[ann["image_id"]]
        given.boxes.append([x, y, x + w, y + h])  # what mmdet's CocoDataset makes of it
        given.labels.append(names[ann["category_id"]])
        given.fields.append(f"{where}.bbox")
    return BoxSource(per_image, {name: cid for cid, name in names.items()})


def read_boxes(boxes: str | os.PathLike, images: Sequence[Path]) -> BoxSource:
    """Parse the box source ``boxes`` (COCO file, per-image JSON, or folder of ``<stem>.json``) for the input
    ``images``."""
    path = Path(boxes)
    if path.is_dir():
        per_image = {}
        for image in images:
            file = path / f"{image.stem}.json"
            if not file.is_file():
                raise FileNotFoundError(f"{path}: no box file {file.name} for input {image}")
            per_image[image] = _per_image_boxes(file, read_json(file, "boxes"))
        return BoxSource(per_image)
    data = read_json(path, "boxes")
    if isinstance(data, dict) and "images" in data and "annotations" in data:
        return _coco_boxes(path, data, images)
    given = _per_image_boxes(path, data)
    if len(images) != 1:
        raise ValueError(f"{path}: a per-image box file serves one input image, got {len(images)}; use a COCO "
                         "file or a folder of <image stem>.json")
    return BoxSource({images[0]: given})
