"""Launchers: train or test a run request in a subprocess — one process, or ``torchrun`` for several GPUs or machines.

The same functions serve the ``tspsis train`` / ``tspsis test`` commands and the notebooks::

    request = RunRequest("configs/mask_rcnn_ts/ts-….py", mixins=("configs/_base_/ts_variants/crf.py",))
    run = tspsis.engine.launch.train(request, work_dir="work_dirs/ts", gpus=1)
    metrics = tspsis.eval.load(run.metrics_path)

The request (``tspsis.engine.request.RunRequest``) is checked before anything is written and recorded once in the
work dir (``request.json``; a test's in ``test-<name>.request.json``); the runner process
(``python -m tspsis.engine.runner``) composes its config from that record. A run resumes from the last checkpoint
in its work dir after a kill, and is skipped when it already finished (its ``metrics.json`` says ``complete``). The
child's log goes to ``WORK_DIR/launcher.log`` (node R > 0 of several: ``launcher.nodeR.log``; its path is printed
once when the run starts); progress is shown by ``tspsis.engine.progress``.

GPUs: ``gpus=None`` (the default everywhere: ``tspsis train``/``test``/``run-notebooks`` and the notebooks)
means every visible GPU, or the CPU when none is visible (``resolve_gpus``); 0 forces the CPU.

Past one machine: ``nodes=N`` runs ``torchrun --nnodes N`` with ``gpus`` processes on each node (``resolve_nodes``:
every node runs the same call with its own ``node_rank`` and node 0's ``master_addr`` / ``master_port``, or
``$NODE_RANK`` / ``$MASTER_ADDR`` / ``$MASTER_PORT``); the work dir must be one folder every node sees (a shared
file system): rank 0 writes the checkpoints and metrics, every rank resumes from them; so must the repository, the
children's working directory, where mmengine gathers a distributed test's results (``.dist_test/``).
``launcher="slurm"``: ``srun`` started this process as one task of the job, and the runner runs here, in this
process (mmengine's slurm launcher).
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

from tspsis.core.io import read_json, write_json_atomic
from tspsis.core.paths import REPO_ROOT
from tspsis.engine.distributed import DEFAULT_MASTER_PORT
from tspsis.engine.request import RunRequest
from tspsis.engine.work_dir import (METRICS_FILE, REQUEST_FILE, Run, completed_run, default_test_name,
                                    metrics_file_of_test, request_file_of_test)

LAUNCHERS = ("local", "slurm")  # local: this process starts the runner's processes; slurm: srun started them


@dataclass(frozen=True)
class Nodes:
    """The machines a run spans (``torchrun --nnodes``): ``count`` of them, this one the ``rank``-th, meeting at
    node 0's ``master_addr:master_port`` (port None: a free one, on one machine only)."""

    count: int = 1
    rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int | None = None


def resolve_nodes(nodes: int = 1, node_rank: int | None = None, master_addr: str | None = None,
                  master_port: int | None = None) -> Nodes:
    """``Nodes`` from ``train``/``test``'s arguments. On several machines what is not given comes from the
    environment, so every node can run the same notebook: ``$NODE_RANK``, ``$MASTER_ADDR`` (both required one way
    or the other) and ``$MASTER_PORT`` (default 29500)."""
    if nodes < 1:
        raise ValueError(f"nodes must be 1 or more, got {nodes}")
    if nodes > 1:
        node_rank = os.environ.get("NODE_RANK") if node_rank is None else node_rank
        master_addr = master_addr or os.environ.get("MASTER_ADDR")
        if node_rank is None or not master_addr:
            raise ValueError(f"nodes={nodes}: give this node's rank and node 0's address (--node-rank, --master-addr; "
                             "or $NODE_RANK, $MASTER_ADDR)")
        master_port = master_port or int(os.environ.get("MASTER_PORT", DEFAULT_MASTER_PORT))
    node_rank = int(node_rank or 0)
    if not 0 <= node_rank < nodes:
        raise ValueError(f"node_rank must be in 0 … {nodes - 1} (nodes={nodes}), got {node_rank}")
    return Nodes(nodes, node_rank, master_addr or "127.0.0.1", master_port)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DeviceError(RuntimeError):
    """A profile or option needs a device this machine lacks (a GPU); the message names the fix."""


def resolve_gpus(gpus: int | None) -> int:
    """``None`` (auto): the number of visible GPUs (``torch.cuda.device_count()``, 0 = CPU); else ``gpus``."""
    if gpus is None:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus < 0:
        raise ValueError(f"gpus must be None (auto), 0 (CPU) or a number of processes, got {gpus}")
    return int(gpus)


def _runner_args(mode: str, request_file: Path, work_dir: Path, extra: list[str]) -> list[str]:
    """The arguments of ``python -m tspsis.engine.runner`` (``runner.main``)."""
    return [mode, str(request_file), "--work-dir", str(work_dir), *extra]


def _command(mode: str, request_file: Path, work_dir: Path, gpus: int, extra: list[str],
             nodes: Nodes = Nodes()) -> list[str]:
    """The child's command: ``python -m tspsis.engine.runner`` (one process), or ``torchrun`` with ``gpus`` processes
    (at least one) on each of ``nodes.count`` machines."""
    args = ["-m", "tspsis.engine.runner", *_runner_args(mode, request_file, work_dir, extra)]
    if gpus > 1 or nodes.count > 1:
        return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nodes.count}", f"--node_rank={nodes.rank}",
                f"--nproc_per_node={max(gpus, 1)}", f"--master_addr={nodes.master_addr}",
                f"--master_port={nodes.master_port or _free_port()}", *args, "--launcher", "pytorch"]
    return [sys.executable, *args]


def _start(mode: str, request_file: Path, name: str, work_dir: Path, gpus: int, env: dict, extra: list[str],
           launcher: str, nodes: int, node_rank: int | None, master_addr: str | None, master_port: int | None) -> None:
    """Run the runner on ``request_file``: in a child with ``env`` (one process or torchrun's ``gpus`` per node,
    ``launcher`` ``local``), or in this process as one task of an ``srun`` job (``slurm``: slurm placed the
    processes)."""
    if launcher not in LAUNCHERS:
        raise ValueError(f"launcher must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
    if launcher == "slurm":
        if nodes != 1 or (node_rank, master_addr, master_port) != (None, None, None):
            raise ValueError("launcher='slurm': srun places the processes; leave nodes, node_rank, master_addr and "
                             "master_port unset ($MASTER_PORT sets the port)")
        from tspsis.engine.runner import main

        main([*_runner_args(mode, request_file, work_dir, extra), "--launcher", "slurm"])
        return
    placed = resolve_nodes(nodes, node_rank, master_addr, master_port)
    log_name = "launcher.log" if placed.rank == 0 else f"launcher.node{placed.rank}.log"
    _stream(_command(mode, request_file, work_dir, gpus, extra, placed), work_dir, env, mode,
            _label(name, work_dir), log_name)


def _label(name: str, work_dir: Path) -> str:
    """How progress names a run: its folder when that extends the name of what trains (the experiment cache's
    ``<name>-<key>``: runs of one config with other seeds stay apart), else that name."""
    return work_dir.name if work_dir.name.startswith(name) else name


def _stream(cmd: list[str], work_dir: Path, env: dict, mode: str, name: str, log_name: str = "launcher.log") -> None:
    """Run ``cmd`` (``mode`` train or test of the run ``name``), tee its output to ``work_dir / log_name`` and show
    it (``tspsis.engine.progress.ChildOutput``); a user's mistake the child reported (status 2) is raised as that
    one-line ``UserError``, any other failure with the log's tail. The child runs in a session of its own, and
    SIGINT / SIGTERM are forwarded to it and waited for (``tspsis.core.signals``)."""
    from tspsis.core.errors import UserError
    from tspsis.core.signals import forwarding_signals
    from tspsis.engine.progress import ChildOutput

    log_path = work_dir / log_name
    tail: deque[str] = deque(maxlen=40)
    shown = ChildOutput(mode, name)
    print(f"{mode} {name}: log {log_path}", flush=True)
    with open(log_path, "a", buffering=1) as log, forwarding_signals(), subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True) as proc:
        log.write(f"$ {' '.join(cmd)}\n")
        for line in proc.stdout:
            log.write(line)
            tail.append(line.rstrip())
            shown.feed(line)
        returncode = proc.wait()
    shown.close()
    if returncode != 0 and shown.user_error is not None:
        raise UserError(shown.user_error)
    if returncode != 0:
        raise RuntimeError(f"{mode} {name} failed (exit {returncode}); last lines of {log_path}:\n" + "\n".join(tail))


def _environment(gpus: int, threads: int | None = None) -> dict:
    """The child's environment: CPU on purpose for ``gpus == 0``; ``threads`` per process (``OMP_NUM_THREADS``;
    None: this process's own setting, else the cores shared between the processes)."""
    env = dict(os.environ)
    if gpus == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""  # CPU on purpose, even where a GPU exists
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(gpus, 1))))
    return env


def _flat(node, prefix: str = "") -> dict:
    """{dotted key path: value} of nested dicts and lists (list items by index, as in ``--cfg-options``)."""
    if not isinstance(node, (dict, list)) or not node:
        return {prefix.rstrip("."): node}
    items = node.items() if isinstance(node, dict) else enumerate(node)
    return {k: v for key, value in items for k, v in _flat(value, f"{prefix}{key}.").items()}


def _differences(old: dict, new: dict, shown: int = 3) -> str:
    """``key: old -> new`` of ``shown`` differing keys of two resolved configs, the shallowest first (the
    schedule's ``train_cfg.max_iters`` before the lr steps it moves), and how many more."""
    def brief(value) -> str:
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + "..."

    old, new = _flat(old), _flat(new)
    keys = sorted((k for k in old.keys() | new.keys() if old.get(k, "<unset>") != new.get(k, "<unset>")),
                  key=lambda k: (k.count("."), k))
    parts = [f"{k}: {brief(old.get(k, '<unset>'))} -> {brief(new.get(k, '<unset>'))}" for k in keys[:shown]]
    return "; ".join(parts) + (f" (and {len(keys) - shown} more)" if len(keys) > shown else "")


def train(request: RunRequest, work_dir: str | Path, *, gpus: int | None = None, resume: bool = True,
          force: bool = False, nodes: int = 1, node_rank: int | None = None, master_addr: str | None = None,
          master_port: int | None = None, launcher: str = "local", threads: int | None = None) -> Run:
    """Train ``request`` in a subprocess and test the final model; returns where the metrics are.

    gpus: None = every visible GPU, or the CPU when none (``resolve_gpus``); 0 = CPU only; 1 = one process on
    whatever device is visible; N > 1 = ``torchrun`` with N processes (gloo when no GPU is visible), on each node.
    ``nodes`` > 1: ``torchrun --nnodes`` (``resolve_nodes``; call it on every node with its ``node_rank``).
    ``launcher="slurm"``: this process is one ``srun`` task and runs the runner itself (gpus and nodes unused).
    ``resume``: a run with checkpoints of its own goes on from the newest. ``threads``: torch's threads per process
    (``OMP_NUM_THREADS``; None: this process's setting, else the cores split between the processes).

    Everything is checked before the work dir is made (``RunRequest.check``). The request is the run's identity
    (``WORK_DIR/request.json``): a work dir that holds a run of other settings (another ``max_iters``, option,
    config ...) is an error naming the differences, never the old result; ``force`` trains it with the new settings
    (resuming from its last checkpoint). A finished run of the same settings is returned without retraining unless
    ``force``.
    """
    from tspsis.core.errors import UserError

    work_dir = Path(work_dir).resolve()
    request.check()
    recorded = work_dir / REQUEST_FILE
    if not force and recorded.is_file() and (old := read_json(recorded, "request").get("resolved")) != request.identity:
        raise UserError(f"{work_dir} holds a run of other settings ({_differences(old, request.identity)}); give "
                        "another --work-dir, or --force to train this one with the new settings")
    if not force and (done := completed_run(work_dir)) is not None:
        print(f"{work_dir.name}: complete, skipped (force=True retrains)")
        return done
    work_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(recorded, request.record())
    gpus = resolve_gpus(gpus)
    _start("train", recorded, request.name, work_dir, gpus, _environment(gpus, threads), ["--resume"] if resume else [],
           launcher, nodes, node_rank, master_addr, master_port)
    return _finished(work_dir)


def test(request: RunRequest, checkpoint: str | Path, work_dir: str | Path, *, gpus: int | None = None,
         name: str | None = None, nodes: int = 1, node_rank: int | None = None, master_addr: str | None = None,
         master_port: int | None = None, launcher: str = "local") -> Run:
    """Evaluate ``checkpoint`` (of ``request``'s config, as trained) in one process per node;
    ``WORK_DIR/test-<name>.metrics.json`` holds unseen / seen / all metrics (the training's ``metrics.json`` and
    ``request.json`` in the same folder are left alone; the test's request is ``test-<name>.request.json``).

    name: what the results are called (default ``tspsis.engine.work_dir.default_test_name``: the checkpoint's stem and the
    options, e.g. ``iter_12-test_mask_head-teacher``). gpus as in ``train`` (one process per node at most);
    nodes, node_rank, master_addr, master_port and launcher as in ``train``. The request and checkpoint are
    checked before the work dir is made (``RunRequest.check``).
    """
    work_dir, checkpoint = Path(work_dir).resolve(), Path(checkpoint).resolve()
    name = name or default_test_name(str(checkpoint), list(request.cfg_options))
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"test name {name!r}: letters, digits, '_', '.' and '-' only (it names a file)")
    request.check(checkpoint)
    work_dir.mkdir(parents=True, exist_ok=True)
    recorded = work_dir / request_file_of_test(name)
    write_json_atomic(recorded, request.record())
    gpus = resolve_gpus(gpus)
    _start("test", recorded, request.name, work_dir, min(gpus, 1), _environment(gpus),
           ["--checkpoint", str(checkpoint), "--name", name], launcher, nodes, node_rank, master_addr, master_port)
    return _finished(work_dir, metrics_file_of_test(name))


def _finished(work_dir: Path, metrics_file: str = METRICS_FILE) -> Run:
    run = completed_run(work_dir, metrics_file)
    if run is None:
        raise RuntimeError(f"{work_dir}: the run exited cleanly but wrote no complete {metrics_file}")
    return run
