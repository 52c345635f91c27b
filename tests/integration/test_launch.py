"""tspsis.launch: subprocess training that resumes after a kill, skips finished runs, and runs several
processes through torchrun (gloo on CPU — the same path that starts several GPUs)."""
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tspsis import launch
from tspsis.splits import write_split

CONFIG = (Path(__file__).resolve().parents[2] / "configs" / "mask_rcnn_ts" /
          "ts-mask-rcnn_r18-scratch_fpn_1xb4-300it_synth-voc2nonvoc.py")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_root(tiny_synth, tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-split")
    shutil.copytree(tiny_synth, root, dirs_exist_ok=True)
    write_split(root / "annotations" / "train.json", "voc", root / "annotations" / "train_voc.json")
    return root


def _options():
    return ["train_dataloader.num_workers=0", "val_dataloader.num_workers=0", "test_dataloader.num_workers=0",
            "default_hooks.logger.interval=1"]


def test_training_resumes_after_a_kill_and_finished_runs_are_skipped(data_root, tmp_path):
    work_dir = tmp_path / "run"
    work_dir.mkdir()
    cmd = launch._command("train", CONFIG, work_dir, 1, launch._extra_args(data_root, _options(), 6) + ["--resume"])
    proc = subprocess.Popen(cmd, cwd=launch.REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (work_dir / "iter_2.pth").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    assert (work_dir / "iter_2.pth").exists() and not (work_dir / "metrics.json").exists()

    run = launch.train(CONFIG, work_dir, gpus=0, data_root=data_root, cfg_options=_options(), max_iters=6)
    log = (work_dir / "launcher.log").read_text()
    assert "Auto resumed from the latest checkpoint" in log  # mmengine's resume, under weights-only loading
    meta = run.metrics["run"]
    assert meta["complete"] and meta["iters"] == 6 and run.checkpoint.name == "iter_6.pth"
    assert set(run.metrics["segm"]) >= {"unseen", "seen", "all"}

    start = time.time()
    again = launch.train(CONFIG, work_dir, gpus=0, data_root=data_root, cfg_options=_options(), max_iters=6)
    assert again == run and time.time() - start < 5  # finished: skipped, no subprocess


def test_two_processes_train_through_torchrun_with_gloo(data_root, tmp_path):
    mixin = tmp_path / "one_checkpoint.py"  # a mixin reaches the runner, merged over the config
    mixin.write_text("default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))\n")
    run = launch.train(CONFIG, tmp_path / "ddp", gpus=2, data_root=data_root, cfg_options=_options(), max_iters=2,
                       mixins=[mixin])
    meta = json.loads(run.metrics_path.read_text())["run"]
    assert meta["world_size"] == 2 and meta["iters"] == 2 and meta["complete"]
    assert meta["mixins"] == [str(mixin.resolve())]
    dumped = (tmp_path / "ddp" / CONFIG.name).read_text()  # the config mmengine ran, as it dumped it
    assert "max_keep_ckpts=1" in dumped.replace(" ", "")
