"""Chaos: a tiny box-conditioned training SIGKILLed at random moments, some of them inside a checkpoint save
(between the write and the rename, tspsis.plugin.hooks.atomic_checkpoint' fault injection), resumed each time with the same command, ends
with weights bit-identical to an uninterrupted run of the same seed.

Deselected by default (marker ``chaos``, ~6 min on 2 cores): ``pytest -m chaos tests/engine/test_chaos.py -s``.
Its last output is in docs/reliability.md.
"""
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tspsis.engine import launch
from tspsis.plugin.hooks.atomic_checkpoint import FAULT_ENV
from tspsis.core.io import write_json_atomic
from tspsis.core.splits import write_split
from tspsis.engine.request import RunRequest
from tspsis.engine.work_dir import REQUEST_FILE

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
LEAF = CONFIGS / "mask_rcnn" / "psis-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"
MIXINS = [CONFIGS / "_base_" / "tracks" / "box-conditioned.py", CONFIGS / "_base_" / "schedules" / "box-cpu_1xb16.py"]
OPTIONS = ["train_dataloader.num_workers=0", "test_dataloader=None", "test_evaluator=None", "test_cfg=None",
           "val_dataloader=None", "val_evaluator=None", "val_cfg=None", "default_hooks.checkpoint.max_keep_ckpts=1"]
MAX_ITERS, INTERVAL = 12, 2  # checkpoints every 2 iterations (scale_schedule: a sixth of the run)
RANDOM_KILLS, KILLS_IN_SAVE = 10, 3
pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def _start(work_dir: Path, data_root: Path, fault: str = "") -> subprocess.Popen:
    """The command a user reruns after each kill: the runner, resuming from the work dir's checkpoints."""
    request = RunRequest(LEAF, tuple(MIXINS), tuple(OPTIONS), data_root, MAX_ITERS)
    write_json_atomic(work_dir / REQUEST_FILE, request.record())
    env = dict(launch._environment(0), OMP_NUM_THREADS="1", **{FAULT_ENV: fault})
    return subprocess.Popen(launch._command("train", work_dir / REQUEST_FILE, work_dir, 1, ["--resume"]),
                            cwd=launch.REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _final_weights(work_dir: Path) -> dict:
    return torch.load(work_dir / f"iter_{MAX_ITERS}.pth", weights_only=True)["state_dict"]


def test_random_sigkills_then_resume_give_bit_identical_weights(tiny_synth, tmp_path):
    data_root = tmp_path / "data"
    data_root.symlink_to(tiny_synth)
    if not (tiny_synth / "annotations" / "train_voc.json").is_file():
        write_split(tiny_synth / "annotations" / "train.json", "voc", tiny_synth / "annotations" / "train_voc.json")
    reference = tmp_path / "uninterrupted"
    reference.mkdir()
    start = time.time()
    assert _start(reference, data_root).wait(timeout=900) == 0
    length = time.time() - start  # start-up and 12 iterations

    rng = random.Random(18)
    plan = ["random"] * RANDOM_KILLS
    for slot in sorted(rng.sample(range(8), KILLS_IN_SAVE)):  # early on, while the run has saves left to kill
        plan.insert(slot, "in save")
    chaos, log, in_save = tmp_path / "chaos", [], 0
    chaos.mkdir()
    for kind in plan:
        if kind == "random":  # anywhere: start-up, an iteration, a save, between saves
            when = rng.uniform(0.1, 0.7) * length
            proc = _start(chaos, data_root)
            try:
                proc.wait(timeout=when)
            except subprocess.TimeoutExpired:
                proc.kill()
            code, what = proc.wait(), f"random, after {when:.1f} s"
        else:  # inside the save of the next checkpoint, between the write and the rename
            done = int(re.search(r"iter_(\d+)", (chaos / "last_checkpoint").read_text()).group(1)) \
                if (chaos / "last_checkpoint").is_file() else 0
            step = done + INTERVAL
            code, what = _start(chaos, data_root, fault=f"kill:{step}").wait(timeout=900), f"in the save of {step}"
            in_save += code == -signal.SIGKILL
        log.append(f"{what}: exit {code}, left {sorted(p.name for p in chaos.glob('*.pth*'))}")
    assert _start(chaos, data_root).wait(timeout=900) == 0  # the same command, one last time, to the end

    ours, theirs = _final_weights(chaos), _final_weights(reference)
    identical = sum(torch.equal(ours[key], theirs[key]) for key in theirs)
    print("\n".join(["kills (SIGKILL, then the same command again):", *log]))
    print(f"{len(log)} kills, {in_save} of them inside a checkpoint save: {identical} of {len(theirs)} tensors of "
          f"iter_{MAX_ITERS}.pth bit-identical to the uninterrupted run")
    assert ours.keys() == theirs.keys() and identical == len(theirs)
    assert in_save >= KILLS_IN_SAVE
