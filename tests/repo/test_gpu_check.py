"""benchmarks/gpu_check.sh --dry-run: every step of the GPU check runs on the CPU at tiny sizes, within the files a
lent machine returns (at most 8), and what it writes parses."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"
STEPS = {"doctor", "data", "bench_train", "bench_crf", "bench_speed", "train_baseline", "train_ours"}


@pytest.mark.slow
def test_gpu_check_dry_run(tmp_path):
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run", str(tmp_path)], env=dict(os.environ, PYTHON=sys.executable),
                          capture_output=True, text=True, timeout=420)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "baseline.metrics.json", "bench_speed.json", "bench_train.json", "gpu_check.log", "ours.metrics.json",
        "summary.json"]
    log = (tmp_path / "gpu_check.log").read_text()
    assert "ok  torch" in log and "GEMM peak" in log  # doctor's and bench_speed's output are in the log

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["dry_run"] is True and "install" not in summary["steps"]
    assert set(summary["steps"]) == STEPS
    assert all(step["exit"] == 0 for step in summary["steps"].values()), summary["steps"]
    results = summary["results"]
    assert results["device"] == "cpu"
    for ratio in ("ts_over_baseline_step", "crf_over_threshold_step", "student_over_baseline_inference"):
        assert results[ratio] > 0
    assert set(results["images_per_s"]) == {"Mask R-CNN", "Mask R-CNN + ours"}
    assert all(r["fp32"] > 0 and r["fast"] > 0 for r in results["images_per_s"].values())
    for run in ("baseline", "ours"):
        assert results[run]["iters"] == 2
        assert {"coco/segm_unseen_AP", "coco/segm_seen_AP"} <= set(results[run])
    speed = json.loads((tmp_path / "bench_speed.json").read_text())
    assert speed["profile"] == "tiny" and speed["track"] == "detector" and speed["gemm_gflop_per_s"]["fp32"] > 0


def test_gpu_check_needs_an_output_folder():
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run"], env={k: v for k, v in os.environ.items() if k != "OUT"},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "output folder" in done.stderr
