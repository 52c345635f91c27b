"""Statistics of a dataset and of a measurement over training seeds.

Dataset statistics (:func:`dataset_stats`): instances, COCO area buckets, object overlap (Eq. 1) and seen-set
coverage. Works on any COCO-format file. The overlap section needs every instance's mask (a partially annotated
training file has none for unseen categories, so the section is then omitted); the coverage section needs
the synthetic benchmark's `shape_family` / `appearance` category keys (:func:`seen_coverage`: which families and
appearances a seen set has, and how many unseen categories share them).

Seed statistics: a measurement over several training seeds is a :class:`Stat` (a float: the mean, with ``std``,
``n`` and the per-seed ``values``); :func:`over_seeds` builds them from per-seed metric records (the lab's
``Context.measure``), :func:`format_stat` prints one as ``mean ± std (n=3)``.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tspsis.core.overlap import OVERLAP_BIN_EDGES, annotation_overlaps, overlap_bins
from tspsis.core.validate import validate_coco
from tspsis.core.splits import COVERAGE_KEYS, COVERAGE_SPECS, load_manifest, resolve_seen

__all__ = ["AREA_BUCKETS", "OVERLAPPED", "Stat", "dataset_stats", "format_stat", "format_stats", "over_seeds",
           "seen_coverage"]

# COCO area buckets (pixels): small < 32^2 <= medium < 96^2 <= large
AREA_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("small", 0.0, 32.0**2), ("medium", 32.0**2, 96.0**2), ("large", 96.0**2, float("inf")))
OVERLAPPED = 0.3  # "overlapped objects" have O >= 0.3 (paper Sec. 5.3, Table 2)


def seen_coverage(categories: Sequence[dict], seen_ids: Sequence[int]) -> dict:
    """What a seen set covers, of the categories carrying `shape_family` / `appearance` (the synthetic benchmark).

    Returns {"seen_categories": [names], "shape_family" / "appearance": {"covered", "missing", "fraction"} (the
    families / appearances that some seen category has, of all), "unseen": {"categories": U, "shape_family" /
    "appearance": the fraction of the U unseen categories whose family / appearance some seen category has,
    "neither": the fraction that shares neither (disjoint in both)}}; the unseen fractions are None when U = 0.
    """
    seen_set = {int(i) for i in seen_ids}
    seen = [cat for cat in categories if int(cat["id"]) in seen_set]
    unseen = [cat for cat in categories if int(cat["id"]) not in seen_set]
    result: dict = {"seen_categories": [cat["name"] for cat in seen]}
    covered_by_seen = {key: {cat[key] for cat in seen} for key in COVERAGE_KEYS}
    for key in COVERAGE_KEYS:
        every = sorted({cat[key] for cat in categories})
        covered = sorted(covered_by_seen[key])
        result[key] = {"covered": covered, "missing": sorted(set(every) - set(covered)),
                       "fraction": len(covered) / len(every)}
    shares = [{key: cat[key] in covered_by_seen[key] for key in COVERAGE_KEYS} for cat in unseen]
    result["unseen"] = {"categories": len(unseen), **{
        key: (sum(share[key] for share in shares) / len(unseen) if unseen else None) for key in COVERAGE_KEYS},
        "neither": (sum(not any(share.values()) for share in shares) / len(unseen) if unseen else None)}
    return result


def dataset_stats(ann_path: str | os.PathLike, manifest_path: str | os.PathLike | None = None) -> dict:
    """Statistics of one COCO-format annotation file.

    Returns {"file", "images", "instances", "categories", "instances_per_category" {name: n},
    "area_buckets" {small, medium, large}, "overlap" (None without masks, else {"bin_edges",
    "histogram" (10 counts, Fig. 2 bins), "mean", "fraction_overlapped" (O >= 0.3), "threshold"}),
    "coverage" ({split name: ``seen_coverage``} for voc, nonvoc, the coverage specs of
    ``tspsis.core.splits.COVERAGE_SPECS`` and the manifest's seen set; omitted when categories carry no
    shape_family/appearance)}.
    """
    dataset = validate_coco(ann_path)
    anns, categories = dataset["annotations"], dataset["categories"]
    names = {cat["id"]: cat["name"] for cat in categories}
    per_category = Counter(ann["category_id"] for ann in anns)
    areas = np.asarray([float(ann.get("area", 0.0)) for ann in anns])
    stats: dict = {
        "file": str(ann_path),
        "images": len(dataset["images"]),
        "instances": len(anns),
        "categories": len(categories),
        "instances_per_category": {names[cid]: per_category.get(cid, 0) for cid in sorted(names)},
        "area_buckets": {name: int(((areas >= lo) & (areas < hi)).sum()) for name, lo, hi in AREA_BUCKETS},
        "overlap": None,
    }
    if anns and all("segmentation" in ann for ann in anns):
        overlaps = np.asarray(list(annotation_overlaps(dataset).values()))
        stats["overlap"] = {
            "bin_edges": list(OVERLAP_BIN_EDGES),
            "histogram": np.bincount(overlap_bins(overlaps), minlength=len(OVERLAP_BIN_EDGES) - 1).tolist(),
            "mean": float(overlaps.mean()),
            "threshold": OVERLAPPED,
            "fraction_overlapped": float((overlaps >= OVERLAPPED).mean()),
        }
    if categories and all(key in cat for cat in categories for key in COVERAGE_KEYS):
        coverage = {}
        for spec in ("voc", "nonvoc", *COVERAGE_SPECS):
            try:
                coverage[spec] = seen_coverage(categories, resolve_seen(categories, spec, dataset.get("info"),
                                                                     str(ann_path)))
            except ValueError:  # no voc list in this file (or no full family x appearance grid)
                continue
        if manifest_path is not None:
            manifest = load_manifest(manifest_path)
            coverage[f"manifest ({manifest['seen_spec']})"] = seen_coverage(categories, manifest["seen_category_ids"])
        stats["coverage"] = coverage
    return stats


def format_stats(stats: dict) -> str:
    """Readable text report of `dataset_stats` output."""
    lines = [f"{Path(stats['file']).name}: {stats['images']} images, {stats['instances']} instances, "
             f"{stats['categories']} categories", "", "instances per category:"]
    width = max((len(name) for name in stats["instances_per_category"]), default=0)
    lines += [f"  {name:<{width}}  {n:>7}" for name, n in stats["instances_per_category"].items()]
    total = max(stats["instances"], 1)
    lines += ["", "area buckets (COCO):"]
    lines += [f"  {name:<6}  {n:>7}  {100 * n / total:5.1f}%" for name, n in stats["area_buckets"].items()]
    overlap = stats["overlap"]
    lines.append("")
    if overlap is None:
        lines.append("object overlap O (Eq. 1): n/a (some instances have no segmentation)")
    else:
        lines.append(f"object overlap O (Eq. 1): mean {overlap['mean']:.3f}, "
                     f"O >= {overlap['threshold']}: {100 * overlap['fraction_overlapped']:.1f}%")
        edges = overlap["bin_edges"]
        for k, n in enumerate(overlap["histogram"]):
            lo = "[0.0" if k == 0 else f"({edges[k]:.1f}"
            lines.append(f"  {lo}, {edges[k + 1]:.1f}]  {n:>7}  {100 * n / total:5.1f}%")
    for split, cov in stats.get("coverage", {}).items():
        lines += ["", f"seen set {split}: {len(cov['seen_categories'])} categories"]
        for key in ("shape_family", "appearance"):
            c = cov[key]
            missing = f", missing {', '.join(c['missing'])}" if c["missing"] else ""
            lines.append(f"  {key:<12} {len(c['covered'])} covered ({100 * c['fraction']:.0f}%): "
                         f"{', '.join(c['covered'])}{missing}")
        unseen = cov["unseen"]
        if unseen["categories"]:
            lines.append(f"  of the {unseen['categories']} unseen categories: "
                         + ", ".join(f"{100 * unseen[key]:.0f}% share a seen {key}" for key in COVERAGE_KEYS)
                         + f", {100 * unseen['neither']:.0f}% share neither")
    return "\n".join(lines)


class Stat(float):
    """A number measured over training seeds: the float value is the mean; ``std`` is the sample standard
    deviation (None for one seed), ``n`` the number of seeds that gave a value, ``values`` the per-seed values
    and ``seeds`` the seeds (in the order of ``values``, None if unknown)."""

    std: float | None
    n: int
    values: tuple[float, ...]
    seeds: tuple[int, ...] | None

    def __new__(cls, values: Sequence[float], seeds: Sequence[int] | None = None) -> Stat:
        values = tuple(float(v) for v in values)
        if not values:
            raise ValueError("Stat needs at least one value")
        mean = sum(values) / len(values)
        stat = super().__new__(cls, mean)
        stat.values, stat.n = values, len(values)
        stat.std = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1
                    else None)
        stat.seeds = None if seeds is None else tuple(seeds)
        return stat

    @property
    def mean(self) -> float:
        return float(self)

    def __repr__(self) -> str:
        return f"Stat(mean={float(self)!r}, std={self.std!r}, n={self.n})"

    def __str__(self) -> str:
        return format_stat(self, 2)

    def __reduce__(self):
        return (Stat, (self.values, self.seeds))

    def to_json(self) -> dict:
        """What ``metrics.json`` stores."""
        return {"mean": float(self), "std": self.std, "n": self.n, "values": list(self.values),
                "seeds": None if self.seeds is None else list(self.seeds)}


def format_stat(stat: Stat, digits: int = 1) -> str:
    """``"12.3 ± 0.4 (n=3)"`` (std: sample standard deviation over seeds); one seed: ``"12.3"``."""
    if stat.std is None:
        return f"{float(stat):.{digits}f}"
    return f"{float(stat):.{digits}f} ± {stat.std:.{digits}f} (n={stat.n})"


def over_seeds(records: Sequence[Any], seeds: Sequence[int] | None = None) -> Any:
    """One record from the same record of several seeds' runs (a metric dict, a number, a list ...).

    Dicts are merged key by key (recursively); numbers become a ``Stat`` over the seeds that have one (None
    and NaN are left out; None if no seed has one), except integers that are equal in every seed (counts such
    as ``num_gt``), which stay as they are; other values equal in every seed stay, unequal ones become the
    list of per-seed values."""
    records = list(records)
    if all(isinstance(r, Mapping) for r in records):
        keys = list(dict.fromkeys(k for r in records for k in r))
        return {k: over_seeds([r.get(k) for r in records], seeds) for k in keys}
    numeric = [r for r in records if r is not None and isinstance(r, (int, float)) and not isinstance(r, bool)]
    if records and len(numeric) == sum(r is not None for r in records):  # numbers and Nones only
        if not numeric:
            return None
        if all(isinstance(r, int) for r in numeric) and len(set(numeric)) == 1 and len(numeric) == len(records):
            return numeric[0]
        kept = [(s, float(r)) for s, r in zip(seeds or [None] * len(records), records)
                if r is not None and not math.isnan(r)]
        if not kept:
            return None
        return Stat([v for _, v in kept], None if seeds is None else [s for s, _ in kept])
    if all(r == records[0] for r in records):
        return records[0] if records else None
    return list(records)
