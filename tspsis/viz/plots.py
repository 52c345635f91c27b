"""Figures of the notebooks: overlap histograms, AP per overlap bin (Fig. 2), false-positive attribution (Fig. 3),
seen splits (Fig. 8), training curves; ``save_figure`` writes one atomically.

AP axes start at 0 and end a little above the largest mean + std (at least 1 AP, at most 100), so an all-zero plot
is a flat line on the floor, not an axis around zero; each model has its own marker and line style; a value over
several seeds (``tspsis.core.stats.Stat``) is drawn with its std as an error bar. Colours: ``tspsis.viz.palette``.
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tspsis.viz.palette import FP_COLOURS
from tspsis.core.stats import Stat

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
    model. attributions: {model label: ``tspsis.eval.fp_attribution.false_positive_attribution`` output}. When no model
    has a matched detection, one line of text says so instead of empty pies."""
    plt = _pyplot()
    if not any(fp.get("total") for fp in attributions.values()):
        return message_figure("no false-positive pixels to attribute: no model made a matched unseen "
                              f"detection ({', '.join(attributions)})")
    names = ("background", "seen", "unseen")
    colours = [FP_COLOURS[n] for n in names]
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


def message_figure(message: str):
    """A one-line figure that says why there is nothing to draw."""
    fig, ax = _pyplot().subplots(figsize=(max(4.0, 0.075 * len(message)), 0.6))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.axis("off")
    return fig


def plot_seen_splits(num_seen: Sequence[int], curves: Mapping[str, Sequence[Any]]):
    """Fig. 8: unseen mask AP against the number of seen categories. curves: {model label: AP per split, each
    a number, a ``Stat`` over seeds (error bar: std) or None}."""
    return plot_curves(num_seen, {"unseen mask AP (%)": curves}, "number of seen categories")


def plot_coverage(coverage: Mapping[str, Mapping], curves: Mapping[str, Sequence[Any]]):
    """The coverage study in the spirit of Fig. 8: unseen mask AP of each method on seen splits of the same size
    that cover less and less of the unseen categories' shapes and appearances. coverage: {spec:
    ``tspsis.core.stats.seen_coverage``} in the order of the curves' values; curves: {method: AP per split, each a
    number, a ``Stat`` over seeds (error bar: std) or None}."""
    labels = [f"{spec}\nfamily {100 * cov['unseen']['shape_family']:.0f}%\nappearance "
              f"{100 * cov['unseen']['appearance']:.0f}%" for spec, cov in coverage.items()]
    fig = plot_curves(list(range(len(labels))), {"unseen mask AP (%)": curves},
                      "seen split (unseen categories sharing a seen shape family / appearance)")
    fig.set_size_inches(7.5, 4.2)  # one line per split name and share: four splits side by side stay readable
    axis = fig.axes[0]
    axis.set_xticklabels(labels, fontsize=7)
    axis.set_xlim(-0.4, len(labels) - 0.6)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the curves, never over them
    fig.tight_layout()
    return fig


def plot_curves(xs: Sequence[float], panels: Mapping[str, Mapping[str, Sequence[Any]]], xlabel: str):
    """One panel per measure, one line per model: panels = {y label: {model label: value per x, each a number,
    a ``Stat`` over seeds (error bar: std) or None}} (e.g. unseen AP and mIoU against training iterations)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (ylabel, curves) in zip(axes[0], panels.items()):
        _ap_lines(ax, list(xs), curves)
        if len(xs) <= 8:  # more would overlap: matplotlib's own ticks
            ax.set_xticks(list(xs))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    handles, labels = axes[0][0].get_legend_handles_labels()  # the same lines in every panel: one legend, below
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 * ((len(labels) + 2) // 3), 1, 1))
    return fig


def plot_training_curves(runs: Mapping[str, object], keys: Sequence[str] = ("loss_cls", "loss_bbox", "loss_mask",
                                                                            "loss_mask_teacher", "loss_mask_student"),
                         ylabel: str = "loss"):
    """The loss terms of Eq. 7 (or other logged ``keys``, e.g. ``pseudo_mask_iou`` of
    :class:`~tspsis.plugin.hooks.pseudo_mask_monitor.PseudoMaskMonitorHook`) over the training iterations of each run (mmengine's
    ``vis_data/scalars.json``).

    runs: {label: a finished ``tspsis.engine.work_dir.Run``}. One panel per run; a term a run does not have is left out."""
    import json

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.0), squeeze=False)
    for ax, (label, run) in zip(axes[0], runs.items()):
        logs = sorted(Path(run.work_dir).glob("*/vis_data/scalars.json"))
        rows = [json.loads(line) for line in logs[-1].read_text().splitlines()] if logs else []
        rows = [r for r in rows if "loss" in r and "iter" in r]
        for key in keys:
            points = [(r["iter"], r[key]) for r in rows if key in r]
            if points:
                ax.plot(*zip(*points), label=key, linewidth=1.2)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylim(bottom=0)
        if rows:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no training log", ha="center", va="center", transform=ax.transAxes)
    axes[0, 0].set_ylabel(ylabel)
    fig.tight_layout()
    return fig
