"""Tables of the notebooks: our measurements beside the paper's numbers, clearly labelled.

A table is rows x columns of numbers; ``comparison_table`` puts our columns first and then the same columns
from the paper, headed ``paper: <column>``, with a caption saying what each group is. ``NotebookOutput``
collects a notebook's tables (``tables.md``), figures (PNG) and metrics (``metrics.json``, ``"complete": true``
written last, which ``tspsis run-notebooks`` uses to resume) in its ``output_dir``; it shows the notebook's
title and profile note once, and the tables refer to it.

Seeds: a measurement over several training seeds is a :class:`tspsis.core.stats.Stat` (``over_seeds`` builds them
from per-seed metric records). Table cells print it as ``mean ± std (n=3)`` (``format_stat``; a single seed prints
as a plain number), figures draw the std as error bars, and ``metrics.json`` stores
``{"mean", "std", "n", "values", "seeds"}``.

Figures are in :mod:`tspsis.viz.plots`, ``NotebookOutput`` in :mod:`tspsis.viz.output`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tspsis.core.paper import SETTING as PAPER_SETTING
from tspsis.core.stats import Stat, format_stat

__all__ = ["DIRECTION_TITLES", "MISSING", "comparison_table", "coverage_summary", "coverage_table", "dataset_table",
           "detector_table", "fmt", "fp_table", "given_boxes_table", "iou_table", "markdown_table",
           "overlap_bins_table", "split_table", "teacher_ratio_line"]

DIRECTION_TITLES = {"voc2nonvoc": "voc → non-voc", "nonvoc2voc": "non-voc → voc"}
MISSING = "—"


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
    """One row per annotation file of ``tspsis.core.stats.dataset_stats`` output: size, COCO area buckets and
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


def coverage_summary(coverage: Mapping) -> str:
    """What a seen split covers of the unseen categories (``tspsis.core.stats.seen_coverage``), in one line."""
    unseen = coverage["unseen"]
    return (f"of the {unseen['categories']} unseen categories, {100 * unseen['shape_family']:.0f}% share a seen "
            f"shape family, {100 * unseen['appearance']:.0f}% a seen appearance, {100 * unseen['neither']:.0f}% "
            "neither")


def coverage_table(spec: str, coverage: Mapping, records: Mapping[str, Mapping | None],
                   ceiling: str = "Oracle") -> str:
    """One seen split of the coverage study: its seen categories, what they cover of the unseen ones, and the
    unseen mask AP and mIoU of each method (``Stat`` cells over seeds); ``ceiling``'s row (trained on every mask,
    scored on this split's unseen categories) is marked as the ceiling.

    records: {method: a run's metrics over seeds, or None where not measured}; the last columns say how its
    training went, at its end (metrics.json's ``training`` block, ``tspsis.plugin.hooks.training_summary``): the
    pseudo masks' IoU with the never-used unseen ground truth (heads with pseudo masks: ``PseudoMaskMonitorHook``)
    and the teacher's foreground ratio in unseen over seen boxes (heads with a teacher: ``TeacherCoverageHook``)."""
    rows = []
    for method, record in records.items():
        segm = (record or {}).get("segm") or {}
        training = (record or {}).get("training") or {}
        label = f"{method} (ceiling: every mask)" if method == ceiling else method
        rows.append([label, (segm.get("unseen") or {}).get("AP"),
                     ((segm.get("mask_iou") or {}).get("unseen") or {}).get("mIoU"),
                     (training.get("pseudo_mask_iou") or {}).get("mean"),
                     (training.get("teacher_fg_ratio") or {}).get("mean")])
    caption = (f"**seen = {spec}** ({', '.join(coverage['seen_categories'])}): {coverage_summary(coverage)}.")
    return caption + "\n\n" + markdown_table(["method", "unseen mask AP", "unseen mIoU", "pseudo-mask IoU (%)",
                                               "teacher fg ratio"], rows, digits=2)


def teacher_ratio_line(metrics: Mapping) -> str:
    """One line on a run's teacher foreground ratio at the end of training (metrics.json's
    ``training.teacher_fg_ratio``, :class:`~tspsis.plugin.hooks.teacher_coverage.TeacherCoverageHook`) and the
    warning the run logged, if any."""
    ratio = (metrics.get("training") or {}).get("teacher_fg_ratio")
    if not ratio:
        return "Teacher foreground ratio: not recorded (a head without a teacher, or a run from before the hook)."
    verdict = f"warned: {ratio['warning']}" if ratio.get("warning") else f"at or above {ratio['threshold']}, no warning"
    return (f"Teacher foreground ratio (unseen / seen boxes), mean of the last {ratio['iterations']} iterations: "
            f"{ratio['mean']:.2f} ({verdict}).")


def detector_table(box: Mapping[str, Mapping], seconds: float | None = None, started_from: str | None = None) -> str:
    """The shared pre-trained detector of the detector track: box AP / AP50 / AP75 on all, seen and unseen
    categories (``box`` = its metrics.json's ``bbox`` block) and, if given, its training seconds and what it started
    from (``tspsis.lab.Context.shared_detector_start``)."""
    rows = [[record, *(box[record].get(k) for k in ("AP", "AP50", "AP75"))] for record in ("all", "seen", "unseen")]
    caption = ("**The shared pre-trained detector**: box AP (%) on the val images of the detector (RPN + box head) "
               "every row of the track starts from, trained on every category's boxes without masks"
               + (f", starting from {started_from}" if started_from else "")
               + (f"; {seconds / 60:.1f} min of training" if seconds else ""))
    return caption + "\n\n" + markdown_table(["categories", "box AP", "AP50", "AP75"], rows)


def given_boxes_table(detections: Mapping[str, Mapping | None], given: Mapping[str, Mapping], *, title: str) -> str:
    """The detector track's rows twice: mask AP of their own detections, and the same checkpoints' masks on the
    ground-truth boxes (``tspsis.lab.Context.measure_on_given_boxes``: the box-conditioned track's test).

    detections: {method: metrics["segm"]["unseen"]} (a row absent there prints a dash); given: {row:
    metrics["segm"] of the given-box test} (``Stat`` cells over seeds)."""
    rows = []
    for row, segm in given.items():
        mask_iou = segm.get("mask_iou") or {}
        rows.append([row, (detections.get(row) or {}).get("AP"), segm["unseen"].get("AP"),
                     (mask_iou.get("unseen") or {}).get("mIoU"), segm["seen"].get("AP")])
    caption = (f"**{title}**\n\nThe same checkpoints twice: unseen mask AP of their own detections (Table 1), and "
               "their masks on the val images' ground-truth boxes, scored as in the box-conditioned track (measured "
               "here, see the note under the notebook's title). The second is the mask heads alone; what the first "
               "loses against it, the detector loses.")
    return caption + "\n\n" + markdown_table(["row", "unseen AP, detections", "unseen AP, given boxes",
                                                "unseen mIoU, given boxes", "seen AP, given boxes"], rows)


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
