"""tspsis.engine.launch: subprocess training that resumes after a kill, skips finished runs, and runs several
processes through torchrun (gloo on CPU — the same path that starts several GPUs), on one machine or as two
nodes, and slurm tasks on gloo; seeded training; tests that leave the training's metrics alone; progress without
carriage returns."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tspsis.cli import commands as cli
from tspsis.core.io import write_json_atomic
from tspsis.engine import launch, progress
from tspsis.engine.request import RunRequest
from tspsis.engine.work_dir import REQUEST_FILE, completed_run

CONFIG = (Path(__file__).resolve().parents[2] / "configs" / "mask_rcnn_ts" /
          "ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py")
pytestmark = pytest.mark.slow


def _options():
    return ["train_dataloader.num_workers=0", "val_dataloader.num_workers=0", "test_dataloader.num_workers=0",
            "default_hooks.logger.interval=1"]


def _request(data_root, options=None, **fields) -> RunRequest:
    """CONFIG on ``data_root`` with ``options`` (default: ``_options()``) and other ``RunRequest`` fields."""
    return RunRequest(CONFIG, cfg_options=tuple(_options() if options is None else options), data_root=data_root,
                      **fields)


def _child(request: RunRequest, work_dir: Path) -> list[str]:
    """The runner's command for a training of ``request`` in ``work_dir`` (its request recorded, as the launcher
    does), started by the test itself so that it can be killed."""
    write_json_atomic(work_dir / REQUEST_FILE, request.record())
    return launch._command("train", work_dir / REQUEST_FILE, work_dir, 1, ["--resume"])


def test_training_resumes_after_a_kill_and_finished_runs_are_skipped(data_root, tmp_path):
    work_dir = tmp_path / "run"
    work_dir.mkdir()
    cmd = _child(_request(data_root, max_iters=6), work_dir)
    proc = subprocess.Popen(cmd, cwd=launch.REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (work_dir / "iter_2.pth").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    assert (work_dir / "iter_2.pth").exists() and not (work_dir / "metrics.json").exists()

    run = launch.train(_request(data_root, max_iters=6), work_dir, gpus=0)
    log = (work_dir / "launcher.log").read_text()
    assert f"tspsis: resuming from {work_dir / 'iter_2.pth'}" in log  # mmengine's resume, under weights-only loading
    meta = run.metrics["run"]
    assert meta["complete"] and meta["iters"] == 6 and run.checkpoint.name == "iter_6.pth"
    assert set(run.metrics["segm"]) >= {"unseen", "seen", "all"}

    start = time.time()
    again = launch.train(_request(data_root, max_iters=6), work_dir, gpus=0)
    assert again == run and time.time() - start < 5  # finished: skipped, no subprocess


SLOW_SAVE = """
import time
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SlowSave(Hook):  # rank 0, the one that writes checkpoints, takes 3 s longer over each
    def before_save_checkpoint(self, runner, checkpoint):
        time.sleep(3)
"""


def test_two_processes_train_through_torchrun_with_gloo(data_root, tmp_path, monkeypatch):
    """Rank 0 saves each checkpoint 3 s slowly, after mmengine's own hook would have removed the one kept: rank 1
    must not go on to read a last_checkpoint naming that file (a race that failed ~3 fresh runs in
    11; with mmengine's CheckpointHook and its resume from last_checkpoint this test fails every time)."""
    (tmp_path / "slow_save.py").write_text(SLOW_SAVE)
    monkeypatch.syspath_prepend(str(tmp_path))  # the launcher parses the mixin too (custom_imports)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]))
    mixin = tmp_path / "one_checkpoint.py"  # a mixin reaches the runner, merged over the config
    mixin.write_text("default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))\n"
                     'custom_imports = dict(imports=["tspsis.plugin", "slow_save"], allow_failed_imports=False)\n'
                     'custom_hooks = [dict(type="SlowSave")]\n')
    run = launch.train(_request(data_root, max_iters=2, mixins=(mixin,)), tmp_path / "ddp", gpus=2)
    meta = json.loads(run.metrics_path.read_text())["run"]
    assert meta["world_size"] == 2 and meta["iters"] == 2 and meta["complete"]
    assert json.loads((run.work_dir / meta["request"]).read_text())["mixins"] == [str(mixin.resolve())]
    # the config mmengine ran, as it dumped it, named for the whole composition: leaf + mixin + iterations
    assert meta["dumped_config"] == f"{CONFIG.stem}+one_checkpoint+2it.py"
    dumped = (tmp_path / "ddp" / meta["dumped_config"]).read_text()
    assert "max_keep_ckpts=1" in dumped.replace(" ", "")


RECORD_IMAGES = """
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RecordImages(Hook):  # the ids of the images each rank trains on, in WORK_DIR/images.rank<R>.txt
    def before_train_iter(self, runner, batch_idx, data_batch=None):
        with open(f"{runner.work_dir}/images.rank{runner.rank}.txt", "a") as out:
            out.writelines(f"{sample.img_id}\\n" for sample in data_batch["data_samples"])
"""


def test_two_nodes_train_on_halves_of_the_data_and_one_process_resumes(data_root, tmp_path):
    """Two torchrun invocations as node 0 and node 1 of one job (gloo on 127.0.0.1, started concurrently, the
    work dir shared as on a cluster's file system), then the checkpoint resumes in a single process."""
    (tmp_path / "record_images.py").write_text(RECORD_IMAGES)
    mixin = tmp_path / "record.py"  # the hook module, imported when the runner parses the mixin
    mixin.write_text('custom_imports = dict(imports=["tspsis.plugin", "record_images"], allow_failed_imports=False)\n'
                     'custom_hooks = [dict(type="RecordImages")]\n')
    work_dir, port = tmp_path / "nodes", launch._free_port()
    path = [str(tmp_path), str(launch.REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(path))
    nodes = []
    try:
        for rank in (0, 1):
            with open(tmp_path / f"node{rank}.out", "w") as out:
                nodes.append(subprocess.Popen(
                    [sys.executable, "-m", "tspsis.cli", "train", str(CONFIG), "--work-dir", str(work_dir),
                     "--gpus", "0", "--nodes", "2", "--node-rank", str(rank), "--master-addr", "127.0.0.1",
                     "--master-port", str(port), "--data-root", str(data_root), "--max-iters", "2", "--mixin",
                     str(mixin), "--cfg-options", *_options()],
                    cwd=launch.REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        codes = [node.wait(timeout=900) for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
    assert codes == [0, 0], "\n".join((tmp_path / f"node{rank}.out").read_text()[-3000:] for rank in (0, 1))
    meta = json.loads((work_dir / "metrics.json").read_text())["run"]
    assert meta["world_size"] == 2 and meta["iters"] == 2 and meta["complete"]
    assert (work_dir / "launcher.node1.log").is_file()  # node 1's own log beside node 0's launcher.log

    train_ids = {str(image["id"]) for image in
                 json.loads((data_root / "annotations" / "train_voc.json").read_text())["images"]}
    per_rank = [(work_dir / f"images.rank{rank}.txt").read_text().split() for rank in (0, 1)]
    assert len(per_rank[0]) == len(per_rank[1]) == len(train_ids) // 2  # 2 iterations x 4 images: one epoch
    assert set(per_rank[0]).isdisjoint(per_rank[1]) and set(per_rank[0]) | set(per_rank[1]) == train_ids

    logged = (work_dir / "launcher.log").read_text()
    run = launch.train(_request(data_root, max_iters=3), work_dir, gpus=0, force=True)
    resumed = (work_dir / "launcher.log").read_text()[len(logged):]
    assert f"tspsis: resuming from {work_dir.resolve() / 'iter_2.pth'}" in resumed
    assert "Iter(train) [3/3]" in resumed and "Iter(train) [1/3]" not in resumed  # it went on from iteration 2
    meta = run.metrics["run"]
    assert meta["world_size"] == 1 and meta["iters"] == 3 and run.checkpoint.name == "iter_3.pth"


SLURM_TASK = """
import os, types
import torch
from tspsis.engine.distributed import init_cpu_distributed

init_cpu_distributed(types.SimpleNamespace(), "slurm")
total = torch.tensor([torch.distributed.get_rank() + 1])
torch.distributed.all_reduce(total)
print(os.environ["RANK"], torch.distributed.get_world_size(), int(total))
torch.distributed.destroy_process_group()
"""


def test_slurm_tasks_meet_on_gloo_without_gpus(tmp_path):
    """What ``python -m tspsis.engine.runner ... --launcher slurm`` does first on a CPU: two tasks of a (pretend) srun
    job become ranks 0 and 1 of one gloo group from their SLURM_* variables."""
    job = dict(os.environ, SLURM_NTASKS="2", SLURM_NODELIST="localhost", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(launch._free_port()), CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    tasks = [subprocess.Popen([sys.executable, "-c", SLURM_TASK], cwd=launch.REPO_ROOT, text=True,
                              stdout=subprocess.PIPE, env=dict(job, SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank)))
             for rank in (0, 1)]
    outputs = [task.communicate(timeout=120)[0].split() for task in tasks]
    assert outputs == [["0", "2", "3"], ["1", "2", "3"]]


NO_TEST = ["test_dataloader=None", "test_evaluator=None", "test_cfg=None"]  # training only: the losses are the point


def _losses(work_dir: Path) -> list[float]:
    """The total loss of every logged training iteration (mmengine's vis_data/scalars.json)."""
    (scalars,) = work_dir.glob("*/vis_data/scalars.json")
    return [row["loss"] for row in map(json.loads, scalars.read_text().splitlines()) if "loss" in row]


@pytest.fixture(scope="module")
def seeded(data_root, tmp_path_factory):
    """Three 3-iteration runs: a (seed 0, with its test pass), b (seed 0) and c (seed 1)."""
    root = tmp_path_factory.mktemp("seeds")
    return {name: launch.train(_request(data_root, _options() + ([] if name == "a" else NO_TEST), max_iters=3,
                                        seed=seed), root / name, gpus=0)
            for name, seed in (("a", 0), ("b", 0), ("c", 1))}


def test_the_same_seed_gives_the_same_losses_and_another_seed_others(seeded):
    a, b, c = (_losses(seeded[name].work_dir) for name in "abc")
    assert len(a) == 3 and a == b  # bit for bit on CPU: weights, sampling, shuffling and flips all seeded
    assert a != c and a[0] != c[0]
    assert [seeded[name].metrics["run"]["seed"] for name in "abc"] == [0, 0, 1]
    assert seeded["a"].metrics["run"]["wall_seconds_total"] > 0


def test_a_test_writes_its_own_file_and_leaves_the_training_metrics_alone(seeded, data_root):
    run = seeded["a"]
    trained_config = run.metrics["run"]["dumped_config"]  # the training's resolved config, named as composed
    assert trained_config == f"{CONFIG.stem}+3it.py"
    before = {name: (run.work_dir / name).read_bytes() for name in ("metrics.json", "test.segm.json", trained_config)}
    tested = launch.test(_request(data_root, ["test_dataloader.num_workers=0", "model.test_cfg.rcnn.max_per_img=20"]),
                         run.checkpoint, run.work_dir, gpus=0)
    assert {name: (run.work_dir / name).read_bytes() for name in before} == before
    assert tested.metrics_path.name == "test-iter_3-num_workers-0-max_per_img-20.metrics.json"
    assert tested.metrics["run"]["mode"] == "test" and {"unseen", "seen", "all"} <= set(tested.metrics["segm"])
    for suffix in ("segm.json", "py"):  # its detections and its resolved config, beside the training's
        assert (run.work_dir / f"test-iter_3-num_workers-0-max_per_img-20.{suffix}").is_file()
    assert completed_run(run.work_dir) == run  # the cache still serves the training's own result
    named = launch.test(_request(data_root, ["test_dataloader.num_workers=0"]), run.checkpoint, run.work_dir, gpus=0,
                        name="again")
    assert named.metrics_path.name == "test-again.metrics.json" and run.metrics_path.read_bytes() == before["metrics.json"]


def test_progress_as_lines_has_no_carriage_returns(capsys, monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "ipykernel", sys)       # inside a Jupyter kernel ...
    monkeypatch.setitem(sys.modules, "ipywidgets", None)     # ... without ipywidgets: no text bars
    assert progress.progress_style() == "lines"
    monkeypatch.setenv(progress.PROGRESS_ENV, "bar")
    assert progress.progress_style() == "bar"
    phase = progress._Progress("train x", "lines", 1)
    for done in range(1, 11):
        phase.update(done, 10, 0.5 if done == 10 else None)
    phase.close()
    printed = capsys.readouterr()
    assert "\r" not in printed.out + printed.err
    assert printed.out.splitlines() == ["train x: 10/10, loss 0.5 (0 s)"]  # a short phase: one line at its end


def test_gpus_default_to_the_visible_ones(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert launch.resolve_gpus(None) == 0 and launch.resolve_gpus(3) == 3
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert launch.resolve_gpus(None) == 4 and launch.resolve_gpus(0) == 0


def _weights_only(checkpoint: Path, out: Path, class_agnostic_logits: bool = False) -> Path:
    """``checkpoint``'s state_dict and an empty meta (what a weights file shared without a run looks like);
    ``class_agnostic_logits``: the mask logits of a class-agnostic head (one output), which cannot load into
    this config's class-specific head."""
    import torch

    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    if class_agnostic_logits:
        for key in ("roi_head.mask_head.conv_logits.weight", "roi_head.mask_head.conv_logits.bias"):
            state[key] = state[key][:1].clone()
    torch.save({"state_dict": state, "meta": {}}, out)
    return out


def test_fine_tuning_starts_a_new_run_and_a_killed_one_still_resumes(data_root, tmp_path, capsys):
    options = _options() + NO_TEST
    other = launch.train(_request(data_root, options, max_iters=3), tmp_path / "other", gpus=0)
    full = other.work_dir / "iter_3.pth"  # a whole checkpoint of another run, at iteration 3

    run = launch.train(_request(data_root, options, max_iters=2, load_from=full), tmp_path / "full", gpus=0)
    log = (run.work_dir / "launcher.log").read_text()
    assert "Iter(train) [1/2]" in log and "Iter(train) [2/2]" in log and run.metrics["run"]["iters"] == 2
    assert f"fine-tuning from {full}: a new run from iteration 0; " in capsys.readouterr().out

    weights = _weights_only(full, tmp_path / "agnostic.pth", class_agnostic_logits=True)
    work_dir = tmp_path / "weights"  # load_from in the config (an option here), killed after its first checkpoint
    work_dir.mkdir()
    weighted = _request(data_root, options + [f"load_from={weights}"], max_iters=2)
    proc = subprocess.Popen(_child(weighted, work_dir), cwd=launch.REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    said = []
    for line in proc.stdout:
        said += [line.strip()] if line.startswith("tspsis: ") else []
        if (work_dir / "iter_1.pth").exists():
            break
    proc.kill()
    proc.wait()
    assert said[0].startswith(f"tspsis: fine-tuning from {weights}: a new run from iteration 0; ")
    import torch

    model = torch.load(full, weights_only=True)["state_dict"]  # the same config: the model's shapes
    assert said[1:3] == [f"tspsis: not loaded (shape mismatch): roi_head.mask_head.conv_logits.{name}: "
                         f"{(1, *model[f'roi_head.mask_head.conv_logits.{name}'].shape[1:])} in the weights, "
                         f"{tuple(model[f'roi_head.mask_head.conv_logits.{name}'].shape)} in the model"
                         for name in ("weight", "bias")]
    launch.train(weighted, work_dir, gpus=0)
    printed = capsys.readouterr().out
    assert f"resuming from {work_dir / 'iter_1.pth'}" in printed and "fine-tuning" not in printed


def test_a_finished_run_asked_another_question_is_an_error_not_the_old_result(data_root, tmp_path, capsys):
    options = _options() + NO_TEST
    run = launch.train(_request(data_root, options, max_iters=1), tmp_path / "run", gpus=0)
    assert launch.train(_request(data_root, options, max_iters=1), run.work_dir, gpus=0) == run
    command = ["train", str(CONFIG), "--work-dir", str(run.work_dir), "--data-root", str(data_root), "--gpus", "0"]
    capsys.readouterr()
    assert cli.main([*command, "--max-iters", "4", "--cfg-options", *options]) == 2
    assert capsys.readouterr().err == (
        f"tspsis train: error: {run.work_dir} holds a run of other settings (train_cfg.max_iters: 1 -> 4; "
        "train_cfg.val_interval: 1 -> 4; param_scheduler.1.end: 1 -> 4 (and 2 more)); give another --work-dir, or "
        "--force to train this one with the new settings\n")
    assert cli.main([*command, "--max-iters", "1", "--cfg-options", *options, "randomness.seed=1"]) == 2
    assert "settings (randomness.seed: 0 -> 1);" in capsys.readouterr().err  # any changed option


def test_sigterm_to_train_stops_its_training_first_and_says_how_to_resume(data_root, tmp_path):
    import psutil

    work_dir = tmp_path / "run"
    command = subprocess.Popen(
        [sys.executable, "-m", "tspsis", "train", str(CONFIG), "--work-dir", str(work_dir), "--gpus", "0",
         "--data-root", str(data_root), "--max-iters", "60", "--cfg-options", *_options()],
        cwd=launch.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"))
    log, deadline = work_dir / "launcher.log", time.time() + 300
    while not (log.is_file() and "Iter(train) [" in log.read_text()) and time.time() < deadline:
        time.sleep(0.2)
    children = psutil.Process(command.pid).children(recursive=True)
    assert any("tspsis.engine.runner" in " ".join(child.cmdline()) for child in children)
    command.send_signal(signal.SIGTERM)
    _, err = command.communicate(timeout=120)
    assert command.returncode == 128 + signal.SIGTERM
    assert err.splitlines()[-1] == (f"tspsis train: stopped by SIGTERM; the same command resumes from the newest "
                                    f"checkpoint in {work_dir}")
    assert not [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
