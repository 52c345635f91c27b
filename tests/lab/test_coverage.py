"""The coverage study's plan: which runs the `coverage` profile trains (the Oracle once per seed, not per split) and
which checkpoints it scores again with another split's manifest; the tiny profile's smaller study; the table and
figure of the notebook on made-up numbers."""
import shutil

import pytest

from tspsis import lab, viz
from tspsis.core.splits import COVERAGE_SPECS
from tspsis.core.stats import Stat

SPLITS = ("voc", *COVERAGE_SPECS)


@pytest.fixture(scope="module")
def data(tiny_synth, tmp_path_factory):
    root = tmp_path_factory.mktemp("coverage-data")
    shutil.copytree(tiny_synth, root, dirs_exist_ok=True)
    return lab.prepare_data("coverage", root)  # the demo's data profile, here on the tiny files


def test_the_coverage_profile_trains_each_split_and_the_oracle_once_per_seed(data, tmp_path):
    plan = lab.coverage_plan("coverage", data["root"], tmp_path)
    assert plan.specs == SPLITS
    assert plan.methods == ("Mask R-CNN", "Mask R-CNN + ours", "OPMask", "OPMask + ours", "Oracle")
    trainings = plan.trainings
    # 4 splits x (3 seeds of Mask R-CNN and of + ours, 1 seed of OPMask and of + ours) + 3 Oracle runs = 35
    assert len(trainings) == 4 * (3 + 3 + 1 + 1) + 3 == 35
    oracle = [t for t in trainings if t[0] == "Oracle"]
    assert oracle == [("Oracle", "voc2nonvoc", None, seed) for seed in (0, 1, 2)]
    assert ("Mask R-CNN", "voc2nonvoc", None, 1) in trainings  # voc is the direction's own split: the demo's run
    assert ("OPMask + ours", "voc2nonvoc", "disjoint-both", 0) in trainings
    assert not any(t[0].startswith("OPMask") and t[3] != 0 for t in trainings)
    # the Oracle's checkpoints are tested with each other split's manifest: 3 seeds x 3 splits
    assert sorted(plan.rescorings) == sorted((("Oracle", "voc2nonvoc", None, seed), spec)
                                             for seed in (0, 1, 2) for spec in COVERAGE_SPECS)
    assert set(SPLITS) <= set(data["splits"])
    assert lab.PROFILES["coverage"].shares_data_of == "demo"


@pytest.mark.slow  # parses 35 configs
def test_every_coverage_training_is_its_own_run(data, tmp_path):
    trainings = lab.coverage_plan("coverage", data["root"], tmp_path).trainings
    folders = {lab.resolve(m, d, profile="coverage", data_root=data["root"], work_dir=tmp_path, seen=seen,
                           seed=seed).work_dir for m, d, seen, seed in trainings}
    assert len(folders) == 35


def test_the_tiny_profile_runs_a_small_study(data, tmp_path):
    tiny = lab.prepare_data("tiny", data["root"])
    plan = lab.coverage_plan("tiny", tiny["root"], tmp_path)
    assert plan.trainings == [("Mask R-CNN + ours", "voc2nonvoc", None, 0),
                              ("Mask R-CNN + ours", "voc2nonvoc", "disjoint-both", 0),
                              ("Oracle", "voc2nonvoc", None, 0)]
    assert plan.rescorings == [(("Oracle", "voc2nonvoc", None, 0), "disjoint-both")]


def test_coverage_table_and_figure(data):
    coverage = lab.split_coverage(data, SPLITS)
    assert coverage["disjoint-both"]["unseen"]["neither"] == pytest.approx(1 / 3)
    records = {"Mask R-CNN + ours": {"segm": {"unseen": {"AP": Stat([10.0, 12.0])},
                                              "mask_iou": {"unseen": {"mIoU": 55.0}}},
                                     "training": {"teacher_fg_ratio": {"mean": Stat([0.25, 0.35])},
                                                  "pseudo_mask_iou": {"mean": 41.0}}},
               "Oracle": {"segm": {"unseen": {"AP": 30.0}}}, "OPMask": None}
    text = viz.coverage_table("disjoint-both", coverage["disjoint-both"], records)
    assert "**seen = disjoint-both** (solid-ellipse, striped-ellipse, solid-rectangle" in text
    assert "33% share a seen shape family, 33% a seen appearance, 33% neither" in text
    assert "| Mask R-CNN + ours | 11.00 ± 1.41 (n=2) | 55.00 | 41.00 | 0.30 ± 0.07 (n=2) |" in text
    assert "| Oracle (ceiling: every mask) | 30.00 | — | — | — |" in text and "| OPMask | — | — | — | — |" in text
    fig = viz.plot_coverage({spec: coverage[spec] for spec in ("voc", "disjoint-both")},
                            {"Oracle": [30.0, 28.0], "Mask R-CNN": [Stat([5.0, 7.0]), None]})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [
        "voc\nfamily 100%\nappearance 100%", "disjoint-both\nfamily 33%\nappearance 33%"]


def test_teacher_ratio_line():
    ratio = {"mean": 0.12, "iterations": 100, "threshold": 0.3, "warning": "the teacher's masks ..."}
    assert viz.teacher_ratio_line({"training": {"teacher_fg_ratio": ratio}}) == (
        "Teacher foreground ratio (unseen / seen boxes), mean of the last 100 iterations: 0.12 "
        "(warned: the teacher's masks ...).")
    assert "no warning" in viz.teacher_ratio_line({"training": {"teacher_fg_ratio": dict(ratio, warning=None)}})
    assert "not recorded" in viz.teacher_ratio_line({})
