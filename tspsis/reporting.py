"""Tables and figures of the notebooks: our measurements beside the paper's numbers, clearly labelled.

A table is rows x columns of numbers; ``comparison_table`` puts our columns first and then the same columns
from the paper, headed ``paper: <column>``, with a caption saying what each group is. ``NotebookOutput``
collects a notebook's tables (``tables.md``), figures (PNG) and metrics (``metrics.json``, ``"complete": true``
written last, which ``tspsis run-notebooks`` uses to resume) in its ``output_dir``.
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .io import write_bytes_atomic, write_json_atomic
from .paper import SETTING as PAPER_SETTING

__all__ = ["DIRECTION_TITLES", "NotebookOutput", "comparison_table", "dataset_table", "fmt", "fp_table",
           "markdown_table", "overlap_bins_table", "plot_ap_by_overlap", "plot_fp_attribution",
           "plot_overlap_histogram", "plot_seen_splits", "save_figure", "split_table"]

DIRECTION_TITLES = {"voc2nonvoc": "voc → non-voc", "nonvoc2voc": "non-voc → voc"}
MISSING = "—"


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: numbers rounded to ``digits``, None/NaN as an em dash, anything else as str."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
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
                     paper: Mapping[str, Mapping | None], *, title: str, note: str,
                     row_notes: Mapping[str, str] | None = None, column_titles: Mapping[str, str] | None = None,
                     paper_setting: str = PAPER_SETTING) -> str:
    """Our numbers and the paper's side by side.

    rows: row labels in order; columns: keys of the records (e.g. AP, AP50); measured / paper: {row: {column:
    value} or None}. A row we did not measure shows dashes in our columns (and ``row_notes[row]`` if given);
    a row the paper does not have shows dashes in the paper's columns. note: what our numbers are (profile,
    schedule); it is printed under the title with the paper's setting. column_titles: header text per column.
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
    caption = (f"**{title}**\n\nColumns without prefix: measured here ({note}). Columns `paper: …`: printed in "
               f"the paper ({paper_setting}); other data and schedule, not comparable in absolute terms.\n")
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


def overlap_bins_table(bins: Mapping[str, Mapping[str, Mapping]]) -> str:
    """Fig. 2 as a table: one row per overlap bin, the unseen ground-truth count and each model's mask AP.
    bins: {model label: metrics["segm"]["unseen_overlap_bins"]}."""
    labels = list(bins)
    first = bins[labels[0]]
    rows = [[b.replace("-", "–"), first[b].get("num_gt"), *(bins[m][b].get("AP") for m in labels)] for b in first]
    return markdown_table(["O bin", "unseen GT", *(f"AP {m}" for m in labels)], rows)


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


def plot_ap_by_overlap(curves: Mapping[str, Mapping[str, float | None]], counts: Mapping[str, int]):
    """Fig. 2: unseen mask AP per overlap bin, with the number of ground-truth objects per bin.

    curves: {model label: {bin label "0.0-0.1": AP or None}}; counts: {bin label: num_gt}. Returns the figure.
    """
    plt = _pyplot()
    bins = list(counts)
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    twin = ax.twinx()
    twin.bar(range(len(bins)), [counts[b] for b in bins], color="0.88", zorder=0)
    twin.set_ylabel("unseen GT objects per bin", color="0.5")
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    for label, curve in curves.items():
        ax.plot(range(len(bins)), [math.nan if curve.get(b) is None else curve[b] for b in bins], "o-", label=label)
    ax.set_xticks(range(len(bins)), [b.replace("-", "–") for b in bins], rotation=45)
    ax.set_xlabel("object overlap O (x_{i-1} < O ≤ x_i)")
    ax.set_ylabel("unseen mask AP (%)")
    ax.legend()
    return fig


def plot_fp_attribution(attributions: Mapping[str, Mapping]):
    """Fig. 3: where false-positive mask pixels fall (background / seen objects / unseen objects), one pie per
    model. attributions: {model label: ``tspsis.evaluation.false_positive_attribution`` output}."""
    plt = _pyplot()
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


def plot_seen_splits(num_seen: Sequence[int], curves: Mapping[str, Sequence[float | None]]):
    """Fig. 8: unseen mask AP against the number of seen categories. curves: {model label: AP per split}."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for label, values in curves.items():
        ax.plot(num_seen, [math.nan if v is None else v for v in values], "o-", label=label)
    ax.set_xticks(list(num_seen))
    ax.set_xlabel("number of seen categories")
    ax.set_ylabel("unseen mask AP (%)")
    ax.legend()
    return fig


# ---------------------------------------------------------------------------------------- notebook output
class NotebookOutput:
    """What one notebook leaves in ``output_dir``: ``tables.md``, ``<name>.png`` figures and ``metrics.json``.

    ``tables.md`` is rewritten after every table, so a notebook that fails halfway still shows what it got;
    ``finish`` writes ``metrics.json`` with ``"complete": true``, the marker ``tspsis run-notebooks`` resumes by.
    """

    def __init__(self, output_dir: str | os.PathLike, title: str, note: str = "") -> None:
        self.dir = Path(output_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.title, self.note = title, note
        self.sections: list[str] = []
        self.figures: list[str] = []

    def _write_tables(self) -> None:
        parts = [f"### {self.title}\n"] + ([f"_{self.note}_\n"] if self.note else []) + self.sections
        write_bytes_atomic(self.dir / "tables.md", "\n".join(parts).encode("utf-8"))

    def table(self, markdown: str) -> str:
        """Add a markdown table (or any markdown) to ``tables.md`` and show it in the notebook."""
        self.sections.append(markdown.rstrip() + "\n")
        self._write_tables()
        _display_markdown(markdown)
        return markdown

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
    """NaN / inf -> None, so metrics.json is strict JSON."""
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
