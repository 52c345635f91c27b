"""Category splits for the partially supervised setting (paper Sec. 5.1: "voc -> nonvoc" and back).

A split names the *seen* categories S, whose instances keep their masks; the unseen categories C \\ S keep
boxes only. `write_split` turns a full COCO-format file into such a training file plus a manifest.

Seen-set specs (`resolve_seen`):
  voc        the voc-like list: the 20 PASCAL VOC categories for COCO (detected by the category names), or
             `info.tspsis_voc_categories` for the synthetic benchmark; any other file has no voc list.
  nonvoc     every category not in the voc list.
  first-K    the voc list plus the first K non-voc categories in ascending category id.
  a,b,c      an explicit comma-separated list of category names.

Coverage specs (`COVERAGE_SPECS`; files whose categories carry `shape_family` and `appearance`, the synthetic
benchmark's, see tspsis.core.synth.render): as many seen categories as the voc list has (6 of 24), so that only
*what* the seen set covers changes, not its size. A class-agnostic mask head (the teacher Ft, Eq. 5) can only
carry to an unseen category what it learnt on seen ones: its silhouette from a seen category of the same shape
family, its texture from one of the same appearance. The voc list (the Latin-square diagonal) covers every family
and every appearance; these specs take that away one factor at a time, then both:
  disjoint-appearance  every shape family with the first appearance (six solid-* categories): the unseen
                       categories' other appearances never carry a mask.
  disjoint-shape       whole families, every appearance of each, in family order, the last family cut to the
                       first appearances (ellipse x 4 + solid-, striped-rectangle): every appearance, as few families
                       as possible (two; triangle, star, ring and cross never carry a mask).
  disjoint-both        the first k families x the first m appearances, k x m = the seen count, the factorisation
                       leaving the most unseen categories that share neither the family nor the appearance of any
                       seen one ((F - k)(A - m), ties: fewer families): 3 x 2 (solid-, striped- ellipse, rectangle,
                       triangle), whose (6 - 3) x (4 - 2) = 6 unseen categories are disjoint in both.
Families and appearances are ordered by their first category in ascending id (the generator's order); every
(family, appearance) pair must be a category exactly once (a full grid), and a file without the two keys fails
with one line naming the file and the field.
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
    "COVERAGE_SPECS",
    "SEEN_SPEC_PATTERN",
    "coverage_seen_names",
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
COVERAGE_SPECS: tuple[str, ...] = ("disjoint-appearance", "disjoint-shape", "disjoint-both")
# every spec a profile or `lab.resolve(seen=...)` names (not the explicit lists of names)
SEEN_SPEC_PATTERN = re.compile("|".join(("voc", "nonvoc", r"first-\d+", *COVERAGE_SPECS)))
COVERAGE_KEYS = ("shape_family", "appearance")


def _grid(categories: Sequence[dict], source: str) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    """Families and appearances (in the order of their first category by ascending id) and {(family, appearance):
    name}; a ValueError naming the file and the field when a category lacks a key or the grid is not full."""
    ordered = sorted(categories, key=lambda cat: int(cat["id"]))
    for cat in ordered:
        for key in COVERAGE_KEYS:
            if key not in cat:
                raise ValueError(f"{source}: coverage specs ({', '.join(COVERAGE_SPECS)}) need field {key!r} in "
                                 f"every category; category {cat.get('name', cat['id'])!r} has none")
    families = list(dict.fromkeys(cat["shape_family"] for cat in ordered))
    appearances = list(dict.fromkeys(cat["appearance"] for cat in ordered))
    grid = {(cat["shape_family"], cat["appearance"]): cat["name"] for cat in ordered}
    if len(grid) != len(ordered) or len(grid) != len(families) * len(appearances):
        raise ValueError(f"{source}: coverage specs need every (shape_family, appearance) pair to be one category "
                         f"(a full grid); {len(ordered)} categories for {len(families)} families x "
                         f"{len(appearances)} appearances")
    return families, appearances, grid


def coverage_seen_names(categories: Sequence[dict], spec: str, size: int, source: str = "annotations") -> list[str]:
    """The seen category names of a coverage spec (see the module docstring), ``size`` of them (the voc list's).

    categories: COCO `categories` entries with `shape_family` and `appearance`; source: file name for errors.
    """
    families, appearances, grid = _grid(categories, source)
    if spec == "disjoint-appearance":
        pairs = [(family, appearances[0]) for family in families]
    elif spec == "disjoint-shape":
        pairs = [(family, appearance) for family in families for appearance in appearances][:size]
    elif spec == "disjoint-both":
        shapes = [(k, size // k) for k in range(1, len(families) + 1)
                  if size % k == 0 and size // k <= len(appearances)]
        if not shapes:
            raise ValueError(f"{source}: seen spec 'disjoint-both': {size} seen categories are no k families x m "
                             f"appearances of {len(families)} x {len(appearances)}")
        k, m = max(shapes, key=lambda km: ((len(families) - km[0]) * (len(appearances) - km[1]), -km[0]))
        pairs = [(family, appearance) for family in families[:k] for appearance in appearances[:m]]
    else:
        raise ValueError(f"{source}: unknown coverage spec {spec!r} (one of {', '.join(COVERAGE_SPECS)})")
    if len(pairs) != size:
        raise ValueError(f"{source}: seen spec {spec!r} gives {len(pairs)} seen categories, the voc list has {size}")
    return [grid[pair] for pair in pairs]


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
    """Seen category ids (ascending) for a spec: voc | nonvoc | first-K | a coverage spec (``COVERAGE_SPECS``) |
    comma-separated names.

    categories: COCO `categories` entries; info: the file's `info` (holds the synthetic voc list);
    source: file name used in error messages.
    """
    by_name = {cat["name"]: int(cat["id"]) for cat in categories}
    spec = spec.strip()
    first_k = _FIRST_K.fullmatch(spec)
    if spec in COVERAGE_SPECS:
        size = len(voc_category_names(categories, info, source))
        return sorted(by_name[name] for name in coverage_seen_names(categories, spec, size, source))
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

