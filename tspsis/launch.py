"""Launchers: train or test a config in a subprocess — one process, or ``torchrun`` for several GPUs.

The same functions serve the ``tspsis train`` / ``tspsis test`` commands and the notebooks::

    run = tspsis.launch.train("configs/mask_rcnn_ts/ts-….py", work_dir="work_dirs/ts", gpus=1,
                              mixins=["configs/_base_/ts_variants/crf.py"])
    metrics = tspsis.evaluation.load(run.metrics_path)

A run resumes from the last checkpoint in its work dir after a kill, and is skipped when it already finished
(its ``metrics.json`` says ``complete``). The child's log goes to ``WORK_DIR/launcher.log``; progress is a tqdm
bar read from mmengine's ``Iter(train) [i/N]`` lines.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tqdm.auto import tqdm

from .runner import METRICS_FILE

REPO_ROOT = Path(__file__).resolve().parents[1]
_PROGRESS = re.compile(r"(?:Iter|Epoch)\((train|test)\)\s*(?:\[\s*\d+\])?\s*\[\s*(\d+)/(\d+)\]")


@dataclass(frozen=True)
class Run:
    """Where a finished run left its results."""

    work_dir: Path
    metrics_path: Path
    checkpoint: Path | None

    @property
    def metrics(self) -> dict:
        return json.loads(self.metrics_path.read_text())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def completed_run(work_dir: Path) -> Run | None:
    """The run in ``work_dir`` if it finished training and testing, else None."""
    metrics_path = work_dir / METRICS_FILE
    if not metrics_path.is_file():
        return None
    meta = json.loads(metrics_path.read_text()).get("run", {})
    checkpoint = Path(meta["checkpoint"]) if meta.get("checkpoint") else None
    if not meta.get("complete") or (checkpoint is not None and not checkpoint.is_file()):
        return None
    return Run(work_dir, metrics_path, checkpoint)


def _command(mode: str, config: Path, work_dir: Path, gpus: int, extra: list[str]) -> list[str]:
    args = ["-m", "tspsis.runner", mode, str(config), "--work-dir", str(work_dir), *extra]
    if gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}",
                f"--master_port={_free_port()}", *args, "--launcher", "pytorch"]
    return [sys.executable, *args]


def _stream(cmd: list[str], work_dir: Path, env: dict, mode: str, name: str) -> None:
    """Run ``cmd`` (``mode`` train or test of the config ``name``), tee its output to ``launcher.log`` and show
    progress, one bar per phase (a training run ends with its test pass); raise with the log's tail."""
    log_path = work_dir / "launcher.log"
    tail: deque[str] = deque(maxlen=40)
    bar, phase = None, None
    with open(log_path, "a", buffering=1) as log, subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                                      stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        log.write(f"$ {' '.join(cmd)}\n")
        for line in proc.stdout:
            log.write(line)
            tail.append(line.rstrip())
            match = _PROGRESS.search(line)
            if match:
                done, total = int(match.group(2)), int(match.group(3))
                if match.group(1) != phase:  # a new bar: its rate and ETA must not count the previous phase
                    if bar is not None:
                        bar.close()
                    phase = match.group(1)  # the log reports every few iterations: start the bar at the first
                    bar = tqdm(desc=f"{phase} {name}", unit="it", dynamic_ncols=True, initial=done)
                bar.total = total
                bar.n = done
                loss = re.search(r"\bloss: ([\d.e+-]+)", line)
                if loss:
                    bar.set_postfix(loss=float(loss.group(1)), refresh=False)
                bar.refresh()
        returncode = proc.wait()
    if bar is not None:
        bar.close()
    if returncode != 0:
        raise RuntimeError(f"{mode} {name} failed (exit {returncode}); last lines of {log_path}:\n" + "\n".join(tail))


def _environment(gpus: int) -> dict:
    env = dict(os.environ)
    if gpus == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""  # CPU on purpose, even where a GPU exists
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(gpus, 1))))
    return env


def _extra_args(data_root: str | Path | None, cfg_options: Iterable[str] | None,
                max_iters: int | None = None, mixins: Iterable[str | Path] | None = None) -> list[str]:
    extra = [arg for mixin in mixins or () for arg in ("--mixin", str(Path(mixin).resolve()))]
    extra += ["--data-root", str(Path(data_root).resolve())] if data_root else []
    extra += ["--max-iters", str(max_iters)] if max_iters else []
    options = list(cfg_options or [])
    return extra + (["--cfg-options", *options] if options else [])


def train(config: str | Path, work_dir: str | Path, *, gpus: int = 1, resume: bool = True,
          cfg_options: Iterable[str] | None = None, data_root: str | Path | None = None,
          max_iters: int | None = None, force: bool = False, mixins: Iterable[str | Path] | None = None) -> Run:
    """Train ``config`` in a subprocess and test the final model; returns where the metrics are.

    gpus: 0 = CPU only, 1 = one process on whatever device is visible, N > 1 = ``torchrun`` with N processes
    (gloo when no GPU is visible). ``max_iters`` rescales an iteration-based schedule (warm-up, lr steps,
    checkpoints). ``mixins``: config files merged over ``config`` in order (``tspsis.runner.merge_mixin``).
    A finished run is returned without retraining unless ``force``.
    """
    config, work_dir, mixins = Path(config).resolve(), Path(work_dir).resolve(), tuple(mixins or ())
    work_dir.mkdir(parents=True, exist_ok=True)
    if not force and (done := completed_run(work_dir)) is not None:
        print(f"{work_dir.name}: complete, skipped (force=True retrains)")
        return done
    extra = _extra_args(data_root, cfg_options, max_iters, mixins) + (["--resume"] if resume else [])
    _stream(_command("train", config, work_dir, gpus, extra), work_dir, _environment(gpus), "train",
            _name(config, mixins))
    return _finished(work_dir)


def test(config: str | Path, checkpoint: str | Path, work_dir: str | Path, *, gpus: int = 1,
         cfg_options: Iterable[str] | None = None, data_root: str | Path | None = None,
         mixins: Iterable[str | Path] | None = None) -> Run:
    """Evaluate ``checkpoint`` (of ``config`` + ``mixins``, as trained); ``WORK_DIR/metrics.json`` holds unseen /
    seen / all metrics."""
    config, work_dir, mixins = Path(config).resolve(), Path(work_dir).resolve(), tuple(mixins or ())
    work_dir.mkdir(parents=True, exist_ok=True)
    extra = ["--checkpoint", str(Path(checkpoint).resolve()), *_extra_args(data_root, cfg_options, mixins=mixins)]
    _stream(_command("test", config, work_dir, min(gpus, 1), extra), work_dir, _environment(gpus), "test",
            _name(config, mixins))
    return _finished(work_dir)


def _name(config: Path, mixins: Iterable[str | Path] | None) -> str:
    """What the progress bar calls a run: the config's stem, + each mixin's."""
    return "+".join([config.stem, *(Path(m).stem for m in mixins or ())])


def _finished(work_dir: Path) -> Run:
    run = completed_run(work_dir)
    if run is None:
        raise RuntimeError(f"{work_dir}: the run exited cleanly but wrote no complete {METRICS_FILE}")
    return run
