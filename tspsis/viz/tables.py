"""Tables and figures of the notebooks: our measurements beside the paper's numbers, clearly labelled.

A table is rows x columns of numbers; ``comparison_table`` puts our columns first and then the same columns
from the paper, headed ``paper: <column>``, with a caption saying what each group is. ``NotebookOutput``
collects a notebook's tables (``tables.md``), figures (PNG) and metrics (``metrics.json``, ``"complete": true``
written last, which ``tspsis run-notebooks`` uses to resume) in its ``output_dir``; it shows the notebook's
title and profile note once, and the tables refer to it.

Seeds: a measurement over several training seeds is a ``Stat`` (a float: the mean, with ``std``, ``n`` and the
per-seed ``values``; ``over_seeds`` builds them from per-seed metric records). Table cells print it as
``mean ± std (n=3)`` (``format_stat``; a single seed prints as a plain number), figures draw the std as error
bars, and ``metrics.json`` stores ``{"mean", "std", "n", "values", "seeds"}``.

Figures: AP axes start at 0 and end a little above the largest mean + std (at least 1 AP, at most 100),
so an all-zero plot is a flat line on the floor, not an axis around zero; each model has its own marker and
line style.
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tspsis.core.io import write_bytes_atomic, write_json_atomic
from tspsis.core.paper import SETTING as PAPER_SETTING

__all__ = ["DIRECTION_TITLES", "NotebookOutput", "Stat", "comparison_table", "dataset_table", "fmt", "format_stat",
           "fp_table", "markdown_table", "over_seeds", "overlap_bins_table", "plot_ap_by_overlap",
           "plot_fp_attribution", "plot_overlap_histogram", "plot_seen_splits", "save_figure", "split_table"]

DIRECTION_TITLES = {"voc2nonvoc": "voc → non-voc", "nonvoc2voc": "non-voc → voc"}
MISSING = "—"


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


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: numbers rounded to ``digits`` (a ``Stat`` as ``format_stat``), None/NaN as an em dash,
    anything else as str."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, Stat):
        return format_stat(value, digits)
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, (int, float)):
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 1) -> str:
    """A GitHub-flavoured markdown table; cells go through ``fmt``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(cell, digits) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def comparison_table(rows: Sequence[str], columns: Sequence[str], measured: Mapping[str, Mapping | None],
                     paper: Mapping[str, Mapping | None], *, title: str, note: str | None = None,
                     row_notes: Mapping[str, str] | None = None, column_titles: Mapping[str, str] | None = None,
                     paper_setting: str = PAPER_SETTING) -> str:
    """Our numbers and the paper's side by side.

    rows: row labels in order; columns: keys of the records (e.g. AP, AP50); measured / paper: {row: {column:
    value} or None}; our values may be ``Stat`` (over training seeds: "mean ± std (n=k)" cells, and the caption
    says so). A row we did not measure shows dashes in our columns (and ``row_notes[row]`` if given); a row the
    paper does not have shows dashes in the paper's columns. note: what our numbers are (profile, schedule),
    printed in the caption with the paper's setting; None: the note under the notebook's title
    (``NotebookOutput``), referred to, not repeated. column_titles: header text per column.
    """
    titles = [(column_titles or {}).get(c, c) for c in columns]
    header = ["method", *titles, *(f"paper: {t}" for t in titles)]
    if row_notes:
        header.append("note")
    body = []
    for row in rows:
        ours, theirs = measured.get(row) or {}, paper.get(row) or {}
        cells = [row, *(ours.get(c) for c in columns), *(theirs.get(c) for c in columns)]
        if row_notes:
            cells.append(row_notes.get(row, ""))
        body.append(cells)
    stats = [v for row in rows for v in (measured.get(row) or {}).values() if isinstance(v, Stat)]
    seeds = max((s.n for s in stats), default=0)
    spread = (f" Each measured cell: mean ± sample std over training seeds (n = seeds, up to {seeds})." if seeds > 1
              else " One training seed per measured cell." if stats else "")
    where = note if note is not None else "see the note under the notebook's title"
    caption = (f"**{title}**\n\nColumns without prefix: measured here ({where}).{spread} Columns `paper: …`: "
               f"printed in the paper ({paper_setting}); other data and schedule, not comparable in absolute "
               "terms.\n")
    return caption + "\n" + markdown_table(header, body)


def dataset_table(stats: Mapping[str, Mapping]) -> str:
    """One row per annotation file of ``tspsis.data.stats.dataset_stats`` output: size, COCO area buckets and
    object overlap O (Eq. 1)."""
    header = ["file", "images", "instances", "categories", "small", "medium", "large", "mean O", "% O ≥ 0.3"]
    rows = []
    for name, st in stats.items():
        overlap = st.get("overlap") or {}
        fraction = overlap.get("fraction_overlapped")
        rows.append([name, st["images"], st["instances"], st["categories"], *st["area_buckets"].values(),
                     overlap.get("mean"), None if fraction is None else 100 * fraction])
    return markdown_table(header, rows, digits=2)


def split_table(manifests: Mapping[str, Mapping]) -> str:
    """One row per seen-set spec: numbers and names of seen / unseen categories (split manifests)."""
    rows = [[spec, len(m["seen_category_ids"]), len(m["unseen_category_ids"]),
             ", ".join(m["seen_category_names"])] for spec, m in manifests.items()]
    return markdown_table(["seen spec", "seen", "unseen", "seen categories (masks in training)"], rows)


def overlap_bins_table(bins: Mapping[str, Mapping[str, Mapping]], value: str = "AP") -> str:
    """Fig. 2 as a table: one row per overlap bin, the unseen ground-truth count and each model's ``value``
    (``AP``, or ``mIoU`` of the box-conditioned track). bins: {model label: metrics["segm"]["unseen_overlap_bins"]
    (or metrics["segm"]["mask_iou"]["unseen"]["overlap_bins"])}."""
    labels = list(bins)
    first = bins[labels[0]]
    rows = [[b.replace("-", "–"), first[b].get("num_gt"), *(bins[m][b].get(value) for m in labels)] for b in first]
    return markdown_table(["O bin", "unseen GT", *(f"{value} {m}" for m in labels)], rows)


def iou_table(records: Mapping[str, Mapping | None], *, title: str, note: str | None = None) -> str:
    """Mean mask IoU (%) of the box-conditioned track per method: unseen, unseen with O >= 0.3, seen, all.

    records: {method: metrics["segm"]["mask_iou"] (over seeds: ``Stat`` cells)} or None where not measured."""
    rows = []
    for method, record in records.items():
        record = record or {}
        unseen = record.get("unseen") or {}
        rows.append([method, unseen.get("mIoU"), (unseen.get("overlapped") or {}).get("mIoU"),
                     (record.get("seen") or {}).get("mIoU"), (record.get("all") or {}).get("mIoU")])
    where = note if note is not None else "see the note under the notebook's title"
    caption = (f"**{title}**\n\nMean IoU of each ground-truth object's mask with the mask predicted for its own box "
               f"(measured here, {where}); it does not depend on the scores that rank detections for AP.")
    return caption + "\n\n" + markdown_table(["method", "unseen mIoU", "unseen mIoU, O ≥ 0.3", "seen mIoU",
                                                "all mIoU"], rows)


def fp_table(attributions: Mapping[str, Mapping]) -> str:
    """Fig. 3 as a table: % of false-positive pixels on background / seen objects / unseen objects."""
    rows = []
    for label, fp in attributions.items():
        fractions = fp.get("fractions", {})
        pct = {k: None if fractions.get(k) is None else 100 * fractions[k] for k in ("background", "seen", "unseen")}
        on_objects = None if pct["seen"] is None else pct["seen"] + pct["unseen"]
        rows.append([label, pct["background"], pct["seen"], pct["unseen"], on_objects, fp.get("total"),
                     fp.get("num_matched_detections")])
    return markdown_table(["model", "% background", "% seen objects", "% unseen objects", "% on objects",
                           "FP pixels", "matched detections"], rows)


# ------------------------------------------------------------------------------------------------ figures
def save_figure(fig, output_dir: str | os.PathLike, name: str, dpi: int = 120) -> Path:
    """Save a matplotlib figure as ``output_dir/name.png`` atomically; returns the path."""
    path = Path(output_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        tmp_png = Path(tmp) / path.name
        fig.savefig(tmp_png, dpi=dpi, bbox_inches="tight")
        os.replace(tmp_png, path)
    return path


def _pyplot():
    import matplotlib

    if "ipykernel" not in __import__("sys").modules:
        matplotlib.use("Agg")  # headless outside a kernel
    import matplotlib.pyplot as plt

    return plt


def plot_overlap_histogram(histograms: Mapping[str, Sequence[int]], edges: Sequence[float]):
    """Share of instances per overlap bin (Eq. 1; bin k holds edges[k] < O <= edges[k+1], O = 0 in bin 0).

    histograms: {dataset name: counts per bin (len(edges) - 1)}. Returns the figure.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    n_sets, width = len(histograms), 0.8 / max(len(histograms), 1)
    labels = [f"{lo:.1f}–{hi:.1f}" for lo, hi in zip(edges[:-1], edges[1:])]
    for k, (name, counts) in enumerate(histograms.items()):
        total = max(sum(counts), 1)
        xs = [i + (k - (n_sets - 1) / 2) * width for i in range(len(counts))]
        ax.bar(xs, [100 * c / total for c in counts], width, label=f"{name} ({sum(counts)} instances)")
    ax.set_xticks(range(len(labels)), labels, rotation=45)
    ax.set_xlabel("object overlap O (Eq. 1)")
    ax.set_ylabel("% of instances")
    ax.legend()
    return fig


# Marker and line style per model, in order: lines stay apart in print, in grey and where they overlap.
LINE_STYLES: tuple[tuple[str, Any], ...] = (("o", "-"), ("s", "--"), ("^", ":"), ("D", "-."), ("v", (0, (5, 1))),
                                            ("P", (0, (3, 1, 1, 1))), ("X", (0, (1, 1))), ("*", (0, (8, 2))))


def _mean_err(value: Any) -> tuple[float, float | None]:
    """(mean, std over seeds or None) of a plotted value: a ``Stat``, a number, or None (NaN: no point)."""
    if value is None:
        return math.nan, None
    if isinstance(value, Stat):
        return float(value), value.std
    return float(value), None


def _ap_lines(ax, xs: Sequence[float], curves: Mapping[str, Sequence[Any]]) -> None:
    """One line per model with its own marker and line style, error bars (std over seeds) where a value is a
    ``Stat`` of several seeds, and an AP axis from 0 to a little above the data (``_ap_axis``)."""
    tops = []
    for k, (label, values) in enumerate(curves.items()):
        means, errs = zip(*(_mean_err(v) for v in values)) if len(values) else ((), ())
        marker, style = LINE_STYLES[k % len(LINE_STYLES)]
        yerr = [e or 0.0 for e in errs] if any(e is not None for e in errs) else None
        ax.errorbar(list(xs), means, yerr=yerr, marker=marker, linestyle=style, capsize=3, label=label,
                    clip_on=False)  # points on the 0 floor stay whole
        tops += [m + (e or 0.0) for m, e in zip(means, errs) if not math.isnan(m)]
    _ap_axis(ax, tops)


def _ap_axis(ax, values: Sequence[float]) -> None:
    """AP axis from 0 (never below) to 15 % above the largest value, at least 1 and at most 100 AP; a note
    when every value is 0 (untrained models), so a flat line on the floor is not read as missing data."""
    top = max((v for v in values if math.isfinite(v)), default=0.0)
    ax.set_ylim(0.0, min(100.0, max(1.0, 1.15 * top)))
    if values and top == 0.0:
        ax.text(0.5, 0.5, "AP = 0 everywhere", transform=ax.transAxes, ha="center", va="center", color="0.4")


def plot_ap_by_overlap(curves: Mapping[str, Mapping[str, Any]], counts: Mapping[str, int],
                       ylabel: str = "unseen mask AP (%)"):
    """Fig. 2: unseen mask AP (or another per-bin measure, ``ylabel``: the mean mask IoU) per overlap bin, with
    the number of ground-truth objects per bin.

    curves: {model label: {bin label "0.0-0.1": value, a ``Stat`` over seeds (error bar: std) or None}};
    counts: {bin label: num_gt}. Returns the figure.
    """
    plt = _pyplot()
    bins = list(counts)
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    twin = ax.twinx()
    twin.bar(range(len(bins)), [counts[b] for b in bins], color="0.88", zorder=0)
    twin.set_ylabel("unseen GT objects per bin", color="0.5")
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    _ap_lines(ax, range(len(bins)), {label: [curve.get(b) for b in bins] for label, curve in curves.items()})
    ax.set_xticks(range(len(bins)), [b.replace("-", "–") for b in bins], rotation=45)
    ax.set_xlabel("object overlap O (x_{i-1} < O ≤ x_i)")
    ax.set_ylabel(ylabel)
    ax.legend()
    return fig


def plot_fp_attribution(attributions: Mapping[str, Mapping]):
    """Fig. 3: where false-positive mask pixels fall (background / seen objects / unseen objects), one pie per
    model. attributions: {model label: ``tspsis.evaluation.false_positive_attribution`` output}. When no model
    has a matched detection, one line of text says so instead of empty pies."""
    plt = _pyplot()
    if not any(fp.get("total") for fp in attributions.values()):
        return _message_figure(plt, "no false-positive pixels to attribute: no model made a matched unseen "
                                    f"detection ({', '.join(attributions)})")
    names = ("background", "seen", "unseen")
    colours = ["0.75", "tab:blue", "tab:orange"]
    fig, axes = plt.subplots(1, len(attributions), figsize=(3.4 * len(attributions), 3.6), squeeze=False)
    for ax, (label, fp) in zip(axes[0], attributions.items()):
        if not fp.get("total"):
            ax.text(0.5, 0.5, "no matched detections", ha="center", va="center")
            ax.axis("off")
        else:
            ax.pie([fp[n] for n in names], autopct="%.0f%%", colors=colours, startangle=90)
        ax.set_title(f"{label}\n({fp.get('total', 0)} FP pixels)", fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours]
    fig.legend(handles, ["background", "seen objects", "unseen objects"], loc="lower center", ncol=3)
    return fig


def _message_figure(plt, message: str):
    """A one-line figure that says why there is nothing to draw."""
    fig, ax = plt.subplots(figsize=(max(4.0, 0.075 * len(message)), 0.6))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.axis("off")
    return fig


def plot_seen_splits(num_seen: Sequence[int], curves: Mapping[str, Sequence[Any]]):
    """Fig. 8: unseen mask AP against the number of seen categories. curves: {model label: AP per split, each
    a number, a ``Stat`` over seeds (error bar: std) or None}."""
    return plot_curves(num_seen, {"unseen mask AP (%)": curves}, "number of seen categories")


def plot_curves(xs: Sequence[float], panels: Mapping[str, Mapping[str, Sequence[Any]]], xlabel: str):
    """One panel per measure, one line per model: panels = {y label: {model label: value per x, each a number,
    a ``Stat`` over seeds (error bar: std) or None}} (e.g. unseen AP and mIoU against training iterations)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.2), squeeze=False)
    for ax, (ylabel, curves) in zip(axes[0], panels.items()):
        _ap_lines(ax, list(xs), curves)
        ax.set_xticks(list(xs))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------- notebook output
class NotebookOutput:
    """What one notebook leaves in ``output_dir``: ``tables.md``, ``<name>.png`` figures and ``metrics.json``.

    ``tables.md`` is rewritten after every table, so a notebook that fails halfway still shows what it got;
    ``finish`` writes ``metrics.json`` with ``"complete": true``, the marker ``tspsis run-notebooks`` resumes by.
    The title and ``note`` (what the numbers are: the profile's note) are shown once, when the output is
    created, and head ``tables.md``; tables made with ``comparison_table(note=None)`` refer to it.
    """

    def __init__(self, output_dir: str | os.PathLike, title: str, note: str = "") -> None:
        self.dir = Path(output_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.title, self.note = title, note
        self.sections: list[str] = []
        self.figures: list[str] = []
        _display_markdown(self._header())

    def _header(self) -> str:
        return "\n".join([f"### {self.title}\n"] + ([f"_{self.note}_\n"] if self.note else []))

    def _write_tables(self) -> None:
        write_bytes_atomic(self.dir / "tables.md", "\n".join([self._header(), *self.sections]).encode("utf-8"))

    def table(self, markdown: str) -> None:
        """Add a markdown table (or any markdown) to ``tables.md`` and show it in the notebook (once: nothing is
        returned, so a cell ending in ``out.table(...)`` does not print it a second time as text)."""
        self.sections.append(markdown.rstrip() + "\n")
        self._write_tables()
        _display_markdown(markdown)

    def figure(self, fig, name: str, caption: str = "") -> Path:
        """Save ``fig`` as ``name.png`` and link it from ``tables.md`` (with ``caption``)."""
        path = save_figure(fig, self.dir, name)
        self.figures.append(path.name)
        self.sections.append(f"![{caption or name}]({path.name})" + (f"  \n{caption}\n" if caption else "\n"))
        self._write_tables()
        return path

    def finish(self, metrics: Mapping[str, Any]) -> Path:
        """Write ``metrics.json`` = ``metrics`` + figures + ``"complete": true`` (strict JSON, atomically)."""
        path = self.dir / "metrics.json"
        write_json_atomic(path, {**_finite(metrics), "figures": self.figures, "complete": True}, indent=1)
        return path


def _finite(node: Any) -> Any:
    """NaN / inf -> None, so metrics.json is strict JSON; a ``Stat`` -> ``Stat.to_json()``."""
    if isinstance(node, Stat):
        return _finite(node.to_json())
    if isinstance(node, float) and not math.isfinite(node):
        return None
    if isinstance(node, Mapping):
        return {str(k): _finite(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_finite(v) for v in node]
    return node


def _display_markdown(markdown: str) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        print(markdown)
        return
    if get_ipython() is None:
        print(markdown)
    else:
        display(Markdown(markdown))
