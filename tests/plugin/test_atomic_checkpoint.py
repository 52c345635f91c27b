"""Checkpoints never half there (tspsis.plugin.hooks.atomic_checkpoint.AtomicCheckpointHook), resume from the newest complete one
(tspsis.engine.resume.resume_checkpoint) and corrupt files told apart from unsafe ones (tspsis.core.checkpoint)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from tspsis.core.checkpoint import CorruptCheckpointError, check_checkpoint_file, load_checkpoint_file
from tspsis.plugin.hooks.atomic_checkpoint import FAULT_ENV
from tspsis.engine.resume import resume_checkpoint

pytest.importorskip("mmengine")

# A 4-iteration regression with a checkpoint every iteration and one kept (the short profiles' setting), in a
# process of its own: the fault injection SIGKILLs it.
TRAIN = textwrap.dedent(f"""
    import sys
    import torch
    from mmengine.runner import Runner
    import tspsis.plugin.hooks.atomic_checkpoint  # registers AtomicCheckpointHook

    sys.path.insert(0, {str(Path(__file__).parents[1] / 'core')!r})
    from test_checkpoint import _Points, _Regression

    work_dir, resume_from = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
    torch.manual_seed(0)  # the model is built before the runner seeds anything
    runner = Runner(
        model=_Regression(), work_dir=work_dir, resume=resume_from is not None, load_from=resume_from,
        randomness=dict(seed=0),
        train_dataloader=dict(dataset=_Points(), sampler=dict(type="DefaultSampler", shuffle=True), batch_size=4,
                              collate_fn=dict(type="default_collate")),
        train_cfg=dict(by_epoch=False, max_iters=4),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type="AtomicCheckpointHook", by_epoch=False, interval=1,
                                           max_keep_ckpts=1)))
    runner.train()
""")


def _train(tmp_path: Path, work_dir: Path, resume_from: str | None = None, fault: str = "") -> int:
    script = tmp_path / "train_regression.py"
    script.write_text(TRAIN)
    env = dict(os.environ, OMP_NUM_THREADS="1", **{FAULT_ENV: fault})
    args = [sys.executable, str(script), str(work_dir), *([resume_from] if resume_from else [])]
    return subprocess.run(args, env=env, capture_output=True, timeout=300).returncode


def _weights(path: Path) -> dict:
    return load_checkpoint_file(str(path))["state_dict"]


@pytest.mark.slow  # trains
def test_a_kill_between_write_and_rename_keeps_the_previous_checkpoint_and_the_rerun_resumes(tmp_path):
    killed = tmp_path / "killed"
    assert _train(tmp_path, killed, fault="kill:3") == -9  # SIGKILL while saving iteration 3's checkpoint
    assert sorted(p.name for p in killed.iterdir() if p.suffix in (".pth", ".partial")) == [
        ".iter_3.pth.partial", "iter_2.pth"]  # the one kept checkpoint is still there, the new one is not visible
    assert (killed / "last_checkpoint").read_text() == str(killed / "iter_2.pth")
    assert resume_checkpoint(killed) == str(killed / "iter_2.pth")

    assert _train(tmp_path, killed, resume_checkpoint(killed)) == 0
    assert sorted(p.name for p in killed.glob("*.pth*")) == ["iter_4.pth"]  # the partial file is cleaned up
    uninterrupted = tmp_path / "uninterrupted"
    assert _train(tmp_path, uninterrupted) == 0
    resumed, reference = _weights(killed / "iter_4.pth"), _weights(uninterrupted / "iter_4.pth")
    assert resumed.keys() == reference.keys() and all(torch.equal(resumed[k], reference[k]) for k in reference)


@pytest.mark.slow  # trains
def test_resume_falls_back_to_the_newest_complete_checkpoint(tmp_path, capsys):
    work_dir = tmp_path / "run"
    assert _train(tmp_path, work_dir, fault="kill:4") == -9
    complete = (work_dir / "iter_3.pth").read_bytes()  # the one kept: make three, 1 complete, 2 cut short, 3 empty
    (work_dir / "iter_1.pth").write_bytes(complete)
    (work_dir / "iter_2.pth").write_bytes(complete[:-100])
    (work_dir / "iter_3.pth").write_bytes(b"")
    (work_dir / "last_checkpoint").write_text(str(work_dir / "iter_9.pth"))
    capsys.readouterr()
    assert resume_checkpoint(work_dir) == str(work_dir / "iter_1.pth")
    said = capsys.readouterr().out.splitlines()
    assert said == [f"tspsis: last_checkpoint names an unusable file (checkpoint not found: {work_dir}/iter_9.pth); "
                    "taking the newest complete checkpoint"]
    (work_dir / "iter_1.pth").unlink()
    assert resume_checkpoint(work_dir) is None  # nothing complete left: a new run, said in one line
    assert "training from the start" in capsys.readouterr().out
    assert resume_checkpoint(tmp_path / "fresh") is None and capsys.readouterr().out == ""


def test_a_corrupt_or_truncated_checkpoint_is_not_called_unsafe(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"state_dict": {"w": torch.arange(1000.0)}, "meta": {}}, good)
    check_checkpoint_file(good)
    garbage, truncated, flipped = tmp_path / "garbage.pth", tmp_path / "truncated.pth", tmp_path / "flipped.pth"
    garbage.write_bytes(os.urandom(4096).replace(b"\x80", b"\x00").replace(b"PK", b"pk"))
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    middle = data.index(b"\x00\x00\x80?") + 2  # a byte inside the tensor data (1.0 as float32)
    flipped.write_bytes(data[:middle] + b"\x81" + data[middle + 1:])
    for path in (garbage, truncated):
        for check in (check_checkpoint_file, load_checkpoint_file):
            with pytest.raises(CorruptCheckpointError, match=rf"^{path}: corrupt or truncated checkpoint"):
                check(str(path))
    with pytest.raises(CorruptCheckpointError, match="bad checksum"):
        check_checkpoint_file(flipped)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        check_checkpoint_file(tmp_path / "missing.pth")
