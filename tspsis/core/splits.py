"""Category splits for the partially supervised setting (paper Sec. 5.1: "voc -> nonvoc" and back).

A split names the *seen* categories S, whose instances keep their masks; the unseen categories C \\ S keep
boxes only. `write_split` turns a full COCO-format file into such a training file plus a manifest.

Seen-set specs (`resolve_seen`):
  voc        the voc-like list: the 20 PASCAL VOC categories for COCO (detected by the category names), or
             `info.tspsis_voc_categories` for the synthetic benchmark; any other file has no voc list.
  nonvoc     every category not in the voc list.
  first-K    the voc list plus the first K non-voc categories in ascending category id.
  a,b,c      an explicit comma-separated list of category names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping, Sequence

from tspsis.core.validate import validate_coco
from tspsis.core.io import read_json, write_json_atomic

__all__ = [
    "COCO_VOC_NAMES",
    "load_manifest",
    "manifest_path_for",
    "resolve_seen",
    "voc_category_names",
    "write_split",
]

# The 20 PASCAL VOC categories under their COCO names (COCO ids 1-7, 9, 16-21, 44, 62-64, 67, 72).
COCO_VOC_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "boat", "bird", "cat", "dog",
    "horse", "sheep", "cow", "bottle", "chair", "couch", "potted plant", "dining table", "tv",
)
MANIFEST_KEYS = ("seen_spec", "seen_category_ids", "unseen_category_ids", "seen_category_names",
                 "unseen_category_names", "source")
_FIRST_K = re.compile(r"first-(\d+)")


def voc_category_names(categories: Sequence[dict], info: dict | None = None, source: str = "annotations") -> list[str]:
    """The voc-like category list of a dataset (see the module docstring). Raises ValueError if it has none."""
    if info and "tspsis_voc_categories" in info:
        return list(info["tspsis_voc_categories"])
    names = {cat["name"] for cat in categories}
    if set(COCO_VOC_NAMES) <= names:
        return list(COCO_VOC_NAMES)
    raise ValueError(f"{source}: seen spec 'voc'/'nonvoc'/'first-K' needs a voc list, but the file has neither "
                     "info.tspsis_voc_categories nor the COCO category names")


def resolve_seen(categories: Sequence[dict], spec: str, info: dict | None = None,
                 source: str = "annotations") -> list[int]:
    """Seen category ids (ascending) for a spec: voc | nonvoc | first-K | comma-separated names.

    categories: COCO `categories` entries; info: the file's `info` (holds the synthetic voc list);
    source: file name used in error messages.
    """
    by_name = {cat["name"]: int(cat["id"]) for cat in categories}
    spec = spec.strip()
    first_k = _FIRST_K.fullmatch(spec)
    if spec in ("voc", "nonvoc") or first_k:
        voc_names = voc_category_names(categories, info, source)
        unknown = [name for name in voc_names if name not in by_name]
        if unknown:
            raise ValueError(f"{source}: voc category {unknown[0]!r} is not in 'categories'")
        voc = {by_name[name] for name in voc_names}
        nonvoc = sorted(set(by_name.values()) - voc)
        if spec == "voc":
            return sorted(voc)
        if spec == "nonvoc":
            return nonvoc
        k = int(first_k.group(1))
        if k > len(nonvoc):
            raise ValueError(f"{source}: seen spec {spec!r} asks for {k} non-voc categories, the file has "
                             f"{len(nonvoc)}")
        return sorted(voc | set(nonvoc[:k]))
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise ValueError(f"{source}: empty seen spec {spec!r}")
    for name in names:
        if name not in by_name:
            raise ValueError(f"{source}: seen category {name!r} is not in 'categories'")
    return sorted({by_name[name] for name in names})


def manifest_path_for(out_path: str | os.PathLike) -> Path:
    """OUT.json -> OUT.manifest.json."""
    out_path = Path(out_path)
    if out_path.suffix != ".json":
        raise ValueError(f"split output must end with .json, got {out_path}")
    return out_path.with_suffix(".manifest.json")


def write_split(ann_path: str | os.PathLike, spec: str, out_path: str | os.PathLike) -> dict:
    """Write the partially annotated training file OUT and its manifest OUT.manifest.json.

    The input is checked with `validate_coco` first (errors name the file, the record and the field).

    Seen-category instances are copied unchanged; unseen-category instances keep `bbox`, `area`,
    `category_id`, `iscrowd` (and their other fields) but lose `segmentation`. Images and categories are
    unchanged; `info.tspsis_split` records the spec and the seen ids. Returns the manifest dict.
    """
    ann_path, out_path = Path(ann_path), Path(out_path)
    manifest_path = manifest_path_for(out_path)
    if out_path.resolve() == ann_path.resolve():
        raise ValueError(f"split output {out_path} would overwrite its input")
    dataset = validate_coco(ann_path)
    seen = resolve_seen(dataset["categories"], spec, dataset.get("info"), str(ann_path))
    seen_set = set(seen)
    category_ids = {int(cat["id"]) for cat in dataset["categories"]}
    annotations = [ann if ann["category_id"] in seen_set else {k: v for k, v in ann.items() if k != "segmentation"}
                   for ann in dataset["annotations"]]
    names = {int(cat["id"]): cat["name"] for cat in dataset["categories"]}
    unseen = sorted(category_ids - seen_set)
    manifest = {
        "seen_spec": spec,
        "seen_category_ids": seen,
        "unseen_category_ids": unseen,
        "seen_category_names": [names[i] for i in seen],
        "unseen_category_names": [names[i] for i in unseen],
        "source": str(ann_path.resolve()),
    }
    info = dict(dataset.get("info") or {})
    info["tspsis_split"] = {"seen_spec": spec, "seen_category_ids": seen, "source": manifest["source"]}
    out = {**dataset, "info": info, "annotations": annotations}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_path, out)
    write_json_atomic(manifest_path, manifest)
    return manifest


def load_manifest(manifest: Mapping | str | os.PathLike) -> dict:
    """The split manifest (path or dict) with validated ``seen_category_ids`` / ``unseen_category_ids``
    (lists of int, disjoint) and ``_source`` (the file, for error messages). Other keys pass through."""
    is_path = isinstance(manifest, (str, os.PathLike))
    source = str(manifest) if is_path else str(manifest.get("_source", "manifest"))
    data = read_json(manifest, "manifest") if is_path else dict(manifest)
    for field in ("seen_category_ids", "unseen_category_ids"):
        ids = data.get(field)
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ValueError(f"{source}: field '{field}' must be a list of integer category ids")
    both = set(data["seen_category_ids"]) & set(data["unseen_category_ids"])
    if both:
        raise ValueError(f"{source}: fields 'seen_category_ids' and 'unseen_category_ids' share ids "
                         f"{sorted(both)}")
    data["_source"] = source
    return data

