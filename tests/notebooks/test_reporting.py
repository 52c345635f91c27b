"""Tables beside the paper's numbers, notebook outputs, results.md, and the paper's numbers themselves."""
import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tspsis import paper, reporting
from tspsis.evaluation import AP_NAMES
from tspsis.notebooks import gather_results


def _rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_comparison_table_puts_ours_then_the_papers_columns_labelled():
    measured = {"A": {"AP": 12.345, "AP50": 30.0}}
    theirs = {"A": {"AP": 19.2, "AP50": 36.4}, "B": {"AP": 21.6, "AP50": 37.1}}
    table = reporting.comparison_table(["A", "B"], ["AP", "AP50"], measured, theirs, title="T", note="demo",
                                       row_notes={"B": "not run"})
    header, rule, a, b = _rows(table)
    assert header == ["method", "AP", "AP50", "paper: AP", "paper: AP50", "note"]
    assert set(rule) == {"---"}
    assert a == ["A", "12.3", "30.0", "19.2", "36.4", ""]
    assert b == ["B", "—", "—", "21.6", "37.1", "not run"]  # not measured here: the paper's numbers only
    assert "measured here (demo)" in table and "printed in the paper" in table


def test_fmt():
    assert reporting.fmt(None) == reporting.fmt(math.nan) == "—"
    assert reporting.fmt(3) == "3" and reporting.fmt(2.25, 1) == "2.2" and reporting.fmt(True) == "✓"


def test_fp_table_percentages_sum_to_100():
    fp = {"m": {"background": 30, "seen": 50, "unseen": 20, "total": 100, "num_matched_detections": 4,
                "fractions": {"background": 0.3, "seen": 0.5, "unseen": 0.2}}}
    _, _, row = _rows(reporting.fp_table(fp))
    assert row == ["m", "30.0", "50.0", "20.0", "70.0", "100", "4"]


def test_notebook_output_writes_tables_figures_and_complete_metrics(tmp_path):
    out = reporting.NotebookOutput(tmp_path / "03_x", "Title", "note")
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
