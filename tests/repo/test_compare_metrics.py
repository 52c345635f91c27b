"""scripts/compare_metrics.py, the number-neutral check: runs paired by what they trained, every test metric equal,
timing ignored, a differing value or a missing partner fails."""
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_metrics.py"
spec = importlib.util.spec_from_file_location("compare_metrics", SCRIPT)
compare_metrics = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_metrics)


def write_run(work_dir: Path, folder: str, method: str, seed: int, unseen_ap: float, wall: float) -> None:
    run = work_dir / folder
    run.mkdir(parents=True)
    (run / "experiment.json").write_text(json.dumps(
        {"method": method, "direction": "voc2nonvoc", "seed": seed, "seen": None, "max_iters": 500}))
    (run / "metrics.json").write_text(json.dumps(
        {"segm": {"unseen": {"AP": unseen_ap, "num_gt": 10}}, "bbox": {"unseen": {"AP": 100.0}},
         "flat": {"coco/segm_unseen_AP": unseen_ap}, "run": {"wall_seconds_total": wall}}))


def test_renamed_folders_pair_and_timing_is_not_a_result(tmp_path):
    write_run(tmp_path / "before", "old-name-aaaa", "Oracle", 0, 41.25, wall=100.0)
    write_run(tmp_path / "after", "new-name-bbbb", "Oracle", 0, 41.25, wall=250.0)
    lines, same = compare_metrics.compare(tmp_path / "before", tmp_path / "after")
    assert same
    assert lines[-1].startswith("verdict: identical")


def test_one_differing_value_or_a_missing_partner_fails(tmp_path):
    write_run(tmp_path / "before", "a", "Oracle", 0, 41.25, wall=1.0)
    write_run(tmp_path / "after", "a", "Oracle", 0, 41.25 + 1e-12, wall=1.0)
    lines, same = compare_metrics.compare(tmp_path / "before", tmp_path / "after")
    assert not same
    assert any("segm.unseen.AP" in line and "flat.coco/segm_unseen_AP" in line for line in lines)
    write_run(tmp_path / "before", "b", "Mask R-CNN", 1, 19.0, wall=1.0)
    write_run(tmp_path / "after", "b", "Mask R-CNN", 1, 19.0, wall=1.0)
    write_run(tmp_path / "before", "c", "Mask R-CNN", 2, 19.0, wall=1.0)
    lines, same = compare_metrics.compare(tmp_path / "before", tmp_path / "after")
    assert any("only before" in line for line in lines)
    assert not compare_metrics.compare(tmp_path / "before", tmp_path / "after", subset=True)[1]  # still "a" differs


def test_subset_lets_before_have_more_runs_but_not_after(tmp_path):
    write_run(tmp_path / "before", "a", "Oracle", 0, 41.25, wall=1.0)
    write_run(tmp_path / "before", "b", "Oracle", 1, 40.0, wall=1.0)
    write_run(tmp_path / "after", "a2", "Oracle", 0, 41.25, wall=9.0)
    assert compare_metrics.compare(tmp_path / "before", tmp_path / "after", subset=True)[1]
    assert not compare_metrics.compare(tmp_path / "before", tmp_path / "after")[1]
    write_run(tmp_path / "after", "c", "Mask R-CNN", 0, 19.0, wall=1.0)
    assert not compare_metrics.compare(tmp_path / "before", tmp_path / "after", subset=True)[1]


def test_two_runs_of_one_row_cannot_be_paired(tmp_path):
    write_run(tmp_path / "w", "a", "Oracle", 0, 1.0, wall=1.0)
    write_run(tmp_path / "w", "b", "Oracle", 0, 2.0, wall=1.0)
    with pytest.raises(SystemExit, match="same row"):
        compare_metrics.runs(tmp_path / "w")
