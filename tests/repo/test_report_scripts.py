"""scripts/metric_table.py and scripts/run_timing.py, the README's seen-AP and timing tables, and
scripts/detection_attributes.py, the detector track's attribute table: values by hand."""
import importlib.util
import json
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(work_dir: Path, folder: str, method: str, direction: str, seed: int, seen_ap: float,
              wall: float, per_iter: float | None, seen_split: str | None = None) -> None:
    run = work_dir / folder
    run.mkdir(parents=True)
    (run / "experiment.json").write_text(json.dumps(
        {"method": method, "direction": direction, "seed": seed, "seen": seen_split}))
    (run / "metrics.json").write_text(json.dumps(
        {"segm": {"seen": {"AP": seen_ap}},
         "run": {"complete": True, "wall_seconds_total": wall, "iter_time_median": per_iter}}))


def test_metric_table_is_mean_and_sample_std_over_seeds_per_direction(tmp_path):
    write_run(tmp_path, "a", "Oracle", "voc2nonvoc", 0, 40.0, 100.0, 0.5)
    write_run(tmp_path, "b", "Oracle", "voc2nonvoc", 1, 42.0, 110.0, 0.6)
    write_run(tmp_path, "c", "Oracle", "voc2nonvoc", 2, 44.0, 120.0, 0.7)
    write_run(tmp_path, "d", "Oracle", "nonvoc2voc", 0, 30.0, 90.0, 0.5)
    write_run(tmp_path, "e", "Oracle", "voc2nonvoc", 0, 99.0, 90.0, 0.5, seen_split="first-9")  # Fig. 8: left out
    metric_table = load("metric_table")
    table = metric_table.markdown(metric_table.values(tmp_path, "segm.seen.AP"), "segm.seen.AP", None)
    assert "| Oracle | 42.0 ± 2.0 (n=3) | 30.0 |" in table  # std of 40, 42, 44 = 2


def test_run_timing_medians_per_method_and_the_sum(tmp_path):
    write_run(tmp_path, "a", "Oracle", "voc2nonvoc", 0, 1.0, 100.0, 0.5)
    write_run(tmp_path, "b", "Oracle", "voc2nonvoc", 1, 1.0, 300.0, 0.7)
    write_run(tmp_path, "c", "Oracle", "voc2nonvoc", 2, 1.0, 200.0, 0.6)
    write_run(tmp_path, "d", "Mask GrabCut", "voc2nonvoc", 0, 1.0, 60.0, None)
    run_timing = load("run_timing")
    table = run_timing.markdown(run_timing.timings(tmp_path))
    assert "| Oracle | 3 | 200 | 0.600 |" in table
    assert "| Mask GrabCut | 1 | 60 | — |" in table
    assert "| all | 4 | sum 660 s (11.0 min) | |" in table


def test_detection_attributes_prints_each_attribute_named_right_per_file(tmp_path, capsys):
    categories = [{"id": 1, "name": "red-square", "colour": "red", "shape": "square"},
                  {"id": 2, "name": "red-circle", "colour": "red", "shape": "circle"}]
    ground_truth = {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 100}], "categories": categories,
                    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20],
                                     "area": 400, "iscrowd": 0}]}
    # one detection on the square, named a circle: colour right, shape wrong
    detections = [{"image_id": 1, "category_id": 2, "bbox": [10, 10, 20, 20], "score": 0.9}]
    (tmp_path / "gt.json").write_text(json.dumps(ground_truth))
    (tmp_path / "dets.json").write_text(json.dumps(detections))
    assert load("detection_attributes").main([str(tmp_path / "gt.json"), str(tmp_path / "dets.json"),
                                              "--attributes", "colour", "shape", "--by-size"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split(" | ")[1:] == ["0.0 / 0.0", "100.0 / 100.0", "100.0 / 100.0", "0.0 / 0.0", "100.0 %",
                                         "0.0 %", "1 |"]
    assert lines[4] == "  shape named right, by object size: small 0.0 % of 1, medium nan % of 0, large nan % of 0"
