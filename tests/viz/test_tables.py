"""Tables beside the paper's numbers, notebook outputs, results.md, and the paper's numbers themselves."""
import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from tspsis.core import paper
from tspsis import viz
from tspsis.viz import output
from tspsis.eval import AP_NAMES
from tspsis.lab.notebooks import gather_results


def _rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_comparison_table_puts_ours_then_the_papers_columns_labelled():
    measured = {"A": {"AP": 12.345, "AP50": 30.0}}
    theirs = {"A": {"AP": 19.2, "AP50": 36.4}, "B": {"AP": 21.6, "AP50": 37.1}}
    table = viz.comparison_table(["A", "B"], ["AP", "AP50"], measured, theirs, title="T", note="demo",
                                       row_notes={"B": "not run"})
    header, rule, a, b = _rows(table)
    assert header == ["method", "AP", "AP50", "paper: AP", "paper: AP50", "note"]
    assert set(rule) == {"---"}
    assert a == ["A", "12.3", "30.0", "19.2", "36.4", ""]
    assert b == ["B", "—", "—", "21.6", "37.1", "not run"]  # not measured here: the paper's numbers only
    assert "measured here (demo)" in table and "printed in the paper" in table


def test_fmt():
    assert viz.fmt(None) == viz.fmt(math.nan) == "—"
    assert viz.fmt(3) == "3" and viz.fmt(2.25, 1) == "2.2" and viz.fmt(True) == "✓"


def test_fp_table_percentages_sum_to_100():
    fp = {"m": {"background": 30, "seen": 50, "unseen": 20, "total": 100, "num_matched_detections": 4,
                "fractions": {"background": 0.3, "seen": 0.5, "unseen": 0.2}}}
    _, _, row = _rows(viz.fp_table(fp))
    assert row == ["m", "30.0", "50.0", "20.0", "70.0", "100", "4"]


def test_notebook_output_writes_tables_figures_and_complete_metrics(tmp_path):
    out = viz.NotebookOutput(tmp_path / "03_x", "Title", "note")
    out.table("| a |\n|---|\n| 1 |")
    assert "| a |" in (tmp_path / "03_x" / "tables.md").read_text()  # written before the notebook finishes
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = out.figure(fig, "fig", "a caption")
    assert path == tmp_path / "03_x" / "fig.png" and path.read_bytes()[:4] == b"\x89PNG"
    out.finish({"AP": math.nan, "nested": {"AP50": 1.5}})
    metrics = json.loads((tmp_path / "03_x" / "metrics.json").read_text())
    assert metrics == {"AP": None, "nested": {"AP50": 1.5}, "figures": ["fig.png"], "complete": True}
    assert "![a caption](fig.png)" in (tmp_path / "03_x" / "tables.md").read_text()

    results = gather_results(tmp_path).read_text()  # links relative to the run folder
    assert "## 03_x" in results and "![a caption](03_x/fig.png)" in results
    plt.close(fig)


def test_paper_tables_are_consistent_with_each_other():
    r50 = paper.TABLE1["R50-FPN"]
    assert all(set(r[d]) == set(AP_NAMES) for r in r50.values() for d in paper.DIRECTIONS)
    for direction in paper.DIRECTIONS:  # Table 3's original teacher is Table 1's "+ ours" row
        assert paper.TABLE3["Original"][direction] == r50["Mask R-CNN + ours"][direction]["AP"]
    assert paper.TABLE4["baseline"]["voc2nonvoc"] == r50["Mask R-CNN"]["voc2nonvoc"]["AP"]
    assert paper.TABLE4["teacher-student + post-processing"]["voc2nonvoc"] == r50["Mask R-CNN + ours"]["voc2nonvoc"]["AP"]
    assert set(paper.TABLE2) <= set(r50) and all(set(r) == set(AP_NAMES) for r in paper.TABLE2.values())
    for method, row in paper.TABLE2.items():  # overlapped objects are harder than all objects (AP)
        assert row["AP"] < r50[method]["voc2nonvoc"]["AP"]


def test_stat_is_the_mean_with_sample_std_and_n():
    stat = viz.Stat([1.0, 2.0, 6.0], seeds=[0, 1, 2])
    assert stat == 3.0 and stat.mean == 3.0 and stat.n == 3 and stat.values == (1.0, 2.0, 6.0)
    assert stat.std == pytest.approx(math.sqrt(7.0))  # sample std: sum of squares 14 over n - 1 = 2
    assert viz.format_stat(stat) == "3.0 ± 2.6 (n=3)" and viz.fmt(stat, 2) == "3.00 ± 2.65 (n=3)"
    assert str(stat) == "3.00 ± 2.65 (n=3)" and f"{stat:.1f}" == "3.0"  # printed; formatted as its mean
    single = viz.Stat([4.25])
    assert single.std is None and viz.fmt(single) == "4.2"  # one seed: a plain number
    assert output._finite({"AP": stat}) == {"AP": {"mean": 3.0, "std": stat.std, "n": 3,
                                                      "values": [1.0, 2.0, 6.0], "seeds": [0, 1, 2]}}


def test_over_seeds_merges_records_key_by_key():
    records = [{"AP": 10.0, "num_gt": 5, "bins": {"0.0-0.1": {"AP": None}, "0.1-0.2": {"AP": 1.0}}, "iou": "segm"},
               {"AP": 14.0, "num_gt": 5, "bins": {"0.0-0.1": {"AP": None}, "0.1-0.2": {"AP": math.nan}}, "iou": "segm"}]
    merged = viz.over_seeds(records, seeds=[0, 1])
    assert merged["AP"] == 12.0 and merged["AP"].n == 2 and merged["AP"].seeds == (0, 1)
    assert merged["num_gt"] == 5 and not isinstance(merged["num_gt"], viz.Stat)
    assert merged["bins"]["0.0-0.1"]["AP"] is None  # no seed has a value
    assert merged["bins"]["0.1-0.2"]["AP"].n == 1 and merged["bins"]["0.1-0.2"]["AP"].seeds == (0,)  # NaN left out
    assert merged["iou"] == "segm"
    counts = viz.over_seeds([3, 4])
    assert isinstance(counts, viz.Stat) and counts == 3.5  # unequal counts are measured too


def test_comparison_table_prints_mean_std_n_and_says_so():
    measured = {"A": {"AP": viz.Stat([1.0, 3.0])}}
    table = viz.comparison_table(["A"], ["AP"], measured, {"A": {"AP": 19.2}}, title="T")
    _, _, row = _rows(table)
    assert row == ["A", "2.0 ± 1.4 (n=2)", "19.2"]
    assert "mean ± sample std over training seeds" in table
    assert "see the note under the notebook's title" in table  # note=None: not repeated in every table
    single = viz.comparison_table(["A"], ["AP"], {"A": {"AP": viz.Stat([2.0])}}, {}, title="T",
                                        note="demo")
    assert "One training seed per measured cell" in single and "measured here (demo)" in single


def _errorbar_containers(ax):
    from matplotlib.container import ErrorbarContainer

    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_ap_axes_start_at_zero_even_for_a_plot_of_zeros():
    counts = {"0.0-0.1": 3, "0.1-0.2": 4}
    fig = viz.plot_ap_by_overlap({"a": {"0.0-0.1": 0.0, "0.1-0.2": 0.0}, "b": {"0.0-0.1": 0.0,
                                                                                     "0.1-0.2": None}}, counts)
    ap_axis = fig.axes[0]
    assert ap_axis.get_ylim() == (0.0, 1.0)  # not -0.04 .. 0.04
    assert any("AP = 0" in t.get_text() for t in ap_axis.texts)
    fig2 = viz.plot_seen_splits([6, 12], {"a": [20.0, 40.0]})
    bottom, top = fig2.axes[0].get_ylim()
    assert bottom == 0.0 and 40.0 < top <= 100.0
    plt.close(fig)
    plt.close(fig2)


def test_curves_over_seeds_have_error_bars_and_distinct_styles():
    curves = {"baseline": [viz.Stat([10.0, 14.0]), viz.Stat([20.0, 22.0])],
              "ours": [viz.Stat([12.0, 12.0]), viz.Stat([25.0, 29.0])]}
    fig = viz.plot_seen_splits([6, 12], curves)
    ax = fig.axes[0]
    bars = _errorbar_containers(ax)
    assert len(bars) == 2 and all(c.has_yerr for c in bars)
    segments = bars[0].lines[2][0].get_segments()  # the vertical bars: mean -+ std
    assert [tuple(seg[:, 1]) for seg in segments] == [pytest.approx((12 - 2 * math.sqrt(2), 12 + 2 * math.sqrt(2))),
                                                      pytest.approx((21 - math.sqrt(2), 21 + math.sqrt(2)))]
    lines = [c.lines[0] for c in bars]
    assert len({(line.get_marker(), str(line.get_linestyle())) for line in lines}) == 2
    assert ax.get_ylim()[0] == 0.0 and ax.get_ylim()[1] >= 29.0
    plain = viz.plot_seen_splits([6, 12], {"one seed": [1.0, 2.0]})
    assert not any(c.has_yerr for c in _errorbar_containers(plain.axes[0]))  # nothing to draw for one seed
    plt.close(fig)
    plt.close(plain)


def test_fp_attribution_without_any_matched_detection_is_one_line_of_text():
    fig = viz.plot_fp_attribution({"a": {"total": 0}, "b": {"total": 0}})
    assert len(fig.axes) == 1 and not fig.axes[0].patches
    assert "no model made a matched unseen detection" in fig.axes[0].texts[0].get_text()
    plt.close(fig)


def test_notebook_output_shows_title_and_note_once_and_table_returns_nothing(tmp_path, capsys):
    out = viz.NotebookOutput(tmp_path, "Title", "the profile note")
    assert out.table("| a |\n|---|\n| 1 |") is None  # a cell ending in out.table(...) shows it once
    printed = capsys.readouterr().out
    assert printed.count("the profile note") == 1 and printed.count("| a |") == 1
    assert (tmp_path / "tables.md").read_text().count("the profile note") == 1


def test_given_boxes_table_puts_each_row_from_detections_beside_its_masks_on_the_ground_truth_boxes():
    detections = {"Mask R-CNN": {"AP": 4.66}, "Oracle": {"AP": 11.8}}
    given = {"Mask R-CNN": {"unseen": {"AP": 18.94}, "seen": {"AP": 21.9}, "mask_iou": {"unseen": {"mIoU": 49.7}}},
             "Mask R-CNN + ours: its teacher Ft": {"unseen": {"AP": 19.2}, "seen": {"AP": 23.4}}}
    table = viz.given_boxes_table(detections, given, title="voc → non-voc")
    header, _, *rows = _rows(table)
    assert header == ["row", "unseen AP, detections", "unseen AP, given boxes", "unseen mIoU, given boxes",
                      "seen AP, given boxes"]
    assert rows == [["Mask R-CNN", "4.7", "18.9", "49.7", "21.9"],
                    ["Mask R-CNN + ours: its teacher Ft", viz.MISSING, "19.2", viz.MISSING, "23.4"]]  # Oracle: untested
    assert table.startswith("**voc → non-voc**")


def test_the_shared_detectors_table_says_what_it_started_from_and_how_long_it_trained():
    box = {record: {"AP": ap, "AP50": 2 * ap, "AP75": ap / 2} for record, ap in
           (("all", 20.0), ("seen", 18.0), ("unseen", 22.0))}
    text = viz.detector_table(box, 486.0, "the box track's box-classification pre-training (1500 iterations, 3.5 min)")
    caption, table = text.split("\n\n")
    assert caption.endswith("without masks, starting from the box track's box-classification pre-training (1500 "
                            "iterations, 3.5 min); 8.1 min of training")
    assert table.splitlines()[2:] == ["| all | 20.0 | 40.0 | 10.0 |", "| seen | 18.0 | 36.0 | 9.0 |",
                                      "| unseen | 22.0 | 44.0 | 11.0 |"]
    assert "starting from" not in viz.detector_table(box)
