"""Launchers: train or test a config in a subprocess — one process, or ``torchrun`` for several GPUs or machines.

The same functions serve the ``tspsis train`` / ``tspsis test`` commands and the notebooks::

    run = tspsis.engine.launch.train("configs/mask_rcnn_ts/ts-….py", work_dir="work_dirs/ts", gpus=1,
                              mixins=["configs/_base_/ts_variants/crf.py"])
    metrics = tspsis.eval.load(run.metrics_path)

A run resumes from the last checkpoint in its work dir after a kill, and is skipped when it already finished
(its ``metrics.json`` says ``complete``). The child's log goes to ``WORK_DIR/launcher.log`` (node R > 0 of several:
``launcher.nodeR.log``; its path is printed once when the run starts); progress is read from mmengine's
``Iter(train) [i/N]`` lines and shown as (``progress_style``) a tqdm bar in a terminal, a widget in Jupyter with
ipywidgets, and otherwise (papermill, pipes, Jupyter without ipywidgets) as a few plain lines per phase: no
carriage returns in stored outputs.

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
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tspsis.core.io import read_json, write_json_atomic
from tspsis.core.paths import REPO_ROOT
from tspsis.engine.runner import DEFAULT_MASTER_PORT, METRICS_FILE, metrics_file_of_test

REQUEST_FILE = "request.json"  # a training's resolved config: what its checkpoints and metrics answer (train)
LAUNCHERS = ("local", "slurm")  # local: this process starts the runner's processes; slurm: srun started them
PROGRESS_ENV = "TSPSIS_PROGRESS"  # "bar" or "lines": overrides progress_style() (run-notebooks sets "lines")
_SAY = "tspsis: "  # the runner's lines for the user (tspsis.engine.runner.say), shown on the console
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


def completed_run(work_dir: Path, metrics_file: str = METRICS_FILE) -> Run | None:
    """The run in ``work_dir`` if it finished training and testing (or, with ``metrics_file`` a test's file,
    that test), else None."""
    metrics_path = work_dir / metrics_file
    if not metrics_path.is_file():
        return None
    meta = json.loads(metrics_path.read_text()).get("run", {})
    checkpoint = Path(meta["checkpoint"]) if meta.get("checkpoint") else None
    if not meta.get("complete") or (checkpoint is not None and not checkpoint.is_file()):
        return None
    return Run(work_dir, metrics_path, checkpoint)


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


def progress_style() -> str:
    """How ``train``/``test`` show progress: ``"bar"`` (tqdm.auto: a bar in a terminal, a widget in Jupyter
    with ipywidgets) or ``"lines"`` (a line when a phase ends; in a long phase also at a tenth of it done, at
    most one a minute).

    ``$TSPSIS_PROGRESS`` decides if set; otherwise bars in a terminal and in a Jupyter kernel that has
    ipywidgets, lines anywhere else (a text bar in a notebook or a log file is a stream of carriage returns).
    """
    chosen = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if chosen in ("bar", "lines"):
        return chosen
    if "ipykernel" in sys.modules:
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return "lines"
        return "bar"
    return "bar" if sys.stderr.isatty() else "lines"


class _Progress:
    """One phase (train or test) of a run: a tqdm bar or plain lines (``progress_style``)."""

    LINE_EVERY_S = 60.0  # "lines": at most one line a minute before the phase ends

    def __init__(self, desc: str, style: str, done: int) -> None:
        self.desc, self.style, self.start = desc, style, time.time()
        self.total, self.done, self.loss, self.printed_tenth, self.printed_at = None, done, None, 0, self.start
        self.bar = None
        if style == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(desc=desc, unit="it", dynamic_ncols=True, initial=done)

    def update(self, done: int, total: int, loss: float | None) -> None:
        self.done, self.total = done, total
        self.loss = loss if loss is not None else self.loss
        if self.bar is not None:
            self.bar.total, self.bar.n = total, done
            if loss is not None:
                self.bar.set_postfix(loss=loss, refresh=False)
            self.bar.refresh()
        elif (tenth := 10 * done // max(total, 1)) > self.printed_tenth and done < total \
                and time.time() - self.printed_at >= self.LINE_EVERY_S:
            self.printed_tenth = tenth
            self._line()

    def _line(self) -> None:
        self.printed_at = time.time()
        loss = "" if self.loss is None else f", loss {self.loss:.4g}"
        print(f"{self.desc}: {self.done}/{self.total}{loss} ({time.time() - self.start:.0f} s)", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.total is not None:
            self._line()


def _runner_args(mode: str, config: Path, work_dir: Path, extra: list[str]) -> list[str]:
    """The arguments of ``python -m tspsis.engine.runner`` (``runner.main``)."""
    return [mode, str(config), "--work-dir", str(work_dir), *extra]


def _command(mode: str, config: Path, work_dir: Path, gpus: int, extra: list[str],
             nodes: Nodes = Nodes()) -> list[str]:
    """The child's command: ``python -m tspsis.engine.runner`` (one process), or ``torchrun`` with ``gpus`` processes (at
    least one) on each of ``nodes.count`` machines."""
    args = ["-m", "tspsis.engine.runner", *_runner_args(mode, config, work_dir, extra)]
    if gpus > 1 or nodes.count > 1:
        return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nodes.count}", f"--node_rank={nodes.rank}",
                f"--nproc_per_node={max(gpus, 1)}", f"--master_addr={nodes.master_addr}",
                f"--master_port={nodes.master_port or _free_port()}", *args, "--launcher", "pytorch"]
    return [sys.executable, *args]


def _start(mode: str, config: Path, work_dir: Path, gpus: int, env: dict, extra: list[str], launcher: str,
           nodes: int, node_rank: int | None, master_addr: str | None, master_port: int | None) -> None:
    """Run the runner: in a child with ``env`` (one process or torchrun's ``gpus`` per node, ``launcher`` ``local``),
    or in this process as one task of an ``srun`` job (``slurm``: slurm placed the processes)."""
    if launcher not in LAUNCHERS:
        raise ValueError(f"launcher must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
    if launcher == "slurm":
        if nodes != 1 or (node_rank, master_addr, master_port) != (None, None, None):
            raise ValueError("launcher='slurm': srun places the processes; leave nodes, node_rank, master_addr and "
                             "master_port unset ($MASTER_PORT sets the port)")
        from tspsis.engine.runner import main

        main([*_runner_args(mode, config, work_dir, extra), "--launcher", "slurm"])
        return
    placed = resolve_nodes(nodes, node_rank, master_addr, master_port)
    log_name = "launcher.log" if placed.rank == 0 else f"launcher.node{placed.rank}.log"
    _stream(_command(mode, config, work_dir, gpus, extra, placed), work_dir, env, mode, _label(config, work_dir),
            log_name)


def _label(config: Path, work_dir: Path) -> str:
    """How progress names a run: its folder when that extends the config's name (the experiment cache's
    ``<config>-<key>``: runs of one config with other seeds stay apart), else the config's name."""
    return work_dir.name if work_dir.name.startswith(config.stem) else config.stem


def _stream(cmd: list[str], work_dir: Path, env: dict, mode: str, name: str, log_name: str = "launcher.log") -> None:
    """Run ``cmd`` (``mode`` train or test of the config ``name``), tee its output to ``work_dir / log_name`` and
    show progress, one bar per phase (a training run ends with its test pass), and the child's ``tspsis: `` lines;
    a user's mistake the child reported (``tspsis.core.errors.USER_ERROR_PREFIX``, status 2) is raised as that one-line
    ``UserError``, any other failure with the log's tail. The child runs in a session of its own, and SIGINT /
    SIGTERM are forwarded to it and waited for (``tspsis.core.signals``)."""
    from tspsis.core.errors import USER_ERROR_PREFIX, UserError
    from tspsis.core.signals import forwarding_signals

    log_path = work_dir / log_name
    tail: deque[str] = deque(maxlen=40)
    bar, phase, style, user_error = None, None, progress_style(), None
    print(f"{mode} {name}: log {log_path}", flush=True)
    with open(log_path, "a", buffering=1) as log, forwarding_signals(), subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True) as proc:
        log.write(f"$ {' '.join(cmd)}\n")
        for line in proc.stdout:
            log.write(line)
            tail.append(line.rstrip())
            if line.startswith(USER_ERROR_PREFIX):
                user_error = line[len(USER_ERROR_PREFIX):].strip()
            elif line.startswith(_SAY):
                print(f"{mode} {name}: {line[len(_SAY):].rstrip()}", flush=True)
            match = _PROGRESS.search(line)
            if match:
                done, total = int(match.group(2)), int(match.group(3))
                if match.group(1) != phase:  # a new bar: its rate and ETA must not count the previous phase
                    if bar is not None:
                        bar.close()
                    phase = match.group(1)  # the log reports every few iterations: start the bar at the first
                    bar = _Progress(f"{phase} {name}", style, done)
                loss = re.search(r"\bloss: ([\d.e+-]+)", line)
                bar.update(done, total, float(loss.group(1)) if loss else None)
        returncode = proc.wait()
    if bar is not None:
        bar.close()
    if returncode != 0 and user_error is not None:
        raise UserError(user_error)
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


def _annotation_files(cfg) -> list[tuple[str, Path]]:
    """(where in the config, file) of every annotation file, split manifest and evaluator ground truth the config
    reads, relative paths as the runner sees them (a dataset's ``data_root``, then the repository)."""
    found = []

    def visit(node, where: str, data_root: str = "") -> None:
        if isinstance(node, dict):
            data_root = node.get("data_root") or data_root
            for key in ("ann_file", "manifest"):
                value = node.get(key)
                if isinstance(value, str) and value:
                    joined = Path(value) if os.path.isabs(value) or "data_root" not in node else Path(data_root, value)
                    found.append((f"{where}.{key}", REPO_ROOT / joined))
            for key, value in node.items():
                if isinstance(value, (dict, list)) and key != "pipeline":
                    visit(value, f"{where}.{key}", data_root)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                visit(value, f"{where}[{i}]", data_root)

    for part in ("train_dataloader", "val_dataloader", "test_dataloader", "val_evaluator", "test_evaluator"):
        visit(cfg.get(part), part)
    return found


def check_request(config: Path, mixins: Iterable[str | Path], cfg_options: Iterable[str],
                  data_root: str | Path | None = None, max_iters: int | None = None, seed: int | None = None,
                  load_from: str | Path | None = None, checkpoint: str | Path | None = None) -> dict:
    """What a run asks for, checked before anything is written: the config and mixins exist and parse, every
    ``cfg_options`` key exists (``tspsis.engine.runner.checked_options``), the data root holds every annotation file the
    config reads, and the weights to start from (``load_from``, else the config's) or to test (``checkpoint``) are
    a complete checkpoint.
    Returns the resolved config as JSON values, without its work dir: the run's identity (``REQUEST_FILE``)."""
    from tspsis.core.checkpoint import check_checkpoint_file
    from tspsis.core.errors import UserError
    from tspsis.engine.runner import load_config

    cfg = load_config(str(config), "WORK_DIR", list(cfg_options), str(data_root) if data_root else None, max_iters,
                      [str(m) for m in mixins], seed)
    for where, path in _annotation_files(cfg):
        if not path.is_file():
            hint = "; `tspsis split` writes a training split" if "train_dataloader" in where else ""
            raise UserError(f"{path}: annotation file not found ({where} of {config.name}; check --data-root"
                            f"{hint})")
    weights = str(Path(load_from).resolve()) if load_from else cfg.get("load_from")
    for file in filter(None, (weights, checkpoint)):
        check_checkpoint_file(file)
    resolved = dict(cfg.to_dict(), load_from=weights)
    resolved.pop("work_dir")
    return json.loads(json.dumps(resolved, sort_keys=True, default=str))


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


def train(config: str | Path, work_dir: str | Path, *, gpus: int | None = None, resume: bool = True,
          cfg_options: Iterable[str] | None = None, data_root: str | Path | None = None,
          max_iters: int | None = None, seed: int | None = None, force: bool = False,
          mixins: Iterable[str | Path] | None = None, nodes: int = 1, node_rank: int | None = None,
          master_addr: str | None = None, master_port: int | None = None, launcher: str = "local",
          load_from: str | Path | None = None) -> Run:
    """Train ``config`` in a subprocess and test the final model; returns where the metrics are.

    gpus: None = every visible GPU, or the CPU when none (``resolve_gpus``); 0 = CPU only; 1 = one process on
    whatever device is visible; N > 1 = ``torchrun`` with N processes (gloo when no GPU is visible), on each node.
    ``nodes`` > 1: ``torchrun --nnodes`` (``resolve_nodes``; call it on every node with its ``node_rank``).
    ``launcher="slurm"``: this process is one ``srun`` task and runs the runner itself (gpus and nodes unused).
    ``max_iters`` rescales an iteration-based schedule (warm-up, lr steps, checkpoints). ``seed``: the
    training seed (``randomness.seed``; None: the config's, else ``runner.DEFAULT_SEED``). ``mixins``: config
    files merged over ``config`` in order (``tspsis.engine.runner.merge_mixin``). ``load_from``: weights a new run starts
    from (fine-tuning; overrides the config's ``load_from``); a run with checkpoints of its own resumes from them.

    Everything is checked before the work dir is made (``check_request``). The resolved config is the run's
    identity (``WORK_DIR/request.json``): a work dir that holds a run of other settings (another ``max_iters``,
    option, config ...) is an error naming the differences, never the old result; ``force`` trains it with the
    new settings (resuming from its last checkpoint). A finished run of the same settings is returned without
    retraining unless ``force``.
    """
    from tspsis.core.errors import UserError

    config, work_dir, mixins = Path(config).resolve(), Path(work_dir).resolve(), tuple(mixins or ())
    options = list(cfg_options or [])
    request = check_request(config, mixins, options, data_root, max_iters, seed, load_from)
    recorded = work_dir / REQUEST_FILE
    if not force and recorded.is_file() and (old := read_json(recorded, "request").get("resolved")) != request:
        raise UserError(f"{work_dir} holds a run of other settings ({_differences(old, request)}); give another "
                        "--work-dir, or --force to train this one with the new settings")
    if not force and (done := completed_run(work_dir)) is not None:
        print(f"{work_dir.name}: complete, skipped (force=True retrains)")
        return done
    work_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(recorded, dict(config=str(config), mixins=[str(m) for m in mixins], resolved=request))
    gpus = resolve_gpus(gpus)
    extra = _extra_args(data_root, options, max_iters, mixins) + (["--resume"] if resume else [])
    extra += ["--seed", str(seed)] if seed is not None else []
    extra += ["--load-from", str(Path(load_from).resolve())] if load_from else []
    _start("train", config, work_dir, gpus, _environment(gpus), extra, launcher, nodes, node_rank, master_addr,
           master_port)
    return _finished(work_dir)


def test(config: str | Path, checkpoint: str | Path, work_dir: str | Path, *, gpus: int | None = None,
         cfg_options: Iterable[str] | None = None, data_root: str | Path | None = None,
         name: str | None = None, mixins: Iterable[str | Path] | None = None, nodes: int = 1,
         node_rank: int | None = None, master_addr: str | None = None, master_port: int | None = None,
         launcher: str = "local") -> Run:
    """Evaluate ``checkpoint`` (of ``config`` + ``mixins``, as trained) in one process per node;
    ``WORK_DIR/test-<name>.metrics.json`` holds unseen / seen / all metrics (the training's ``metrics.json`` in
    the same folder is left alone).

    name: what the results are called (default ``runner.default_test_name``: the checkpoint's stem and the
    options, e.g. ``iter_12-test_mask_head-teacher``). gpus as in ``train`` (one process per node at most);
    nodes, node_rank, master_addr, master_port and launcher as in ``train``. The config, options, data and
    checkpoint are checked before the work dir is made (``check_request``).
    """
    from tspsis.engine.runner import default_test_name

    config, work_dir, mixins = Path(config).resolve(), Path(work_dir).resolve(), tuple(mixins or ())
    checkpoint = Path(checkpoint).resolve()
    options = list(cfg_options or [])
    name = name or default_test_name(str(checkpoint), options)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"test name {name!r}: letters, digits, '_', '.' and '-' only (it names a file)")
    check_request(config, mixins, options, data_root, checkpoint=checkpoint)
    work_dir.mkdir(parents=True, exist_ok=True)
    extra = ["--checkpoint", str(checkpoint), "--name", name, *_extra_args(data_root, options, mixins=mixins)]
    gpus = resolve_gpus(gpus)
    _start("test", config, work_dir, min(gpus, 1), _environment(gpus), extra, launcher, nodes, node_rank, master_addr,
           master_port)
    return _finished(work_dir, metrics_file_of_test(name))


def _finished(work_dir: Path, metrics_file: str = METRICS_FILE) -> Run:
    run = completed_run(work_dir, metrics_file)
    if run is None:
        raise RuntimeError(f"{work_dir}: the run exited cleanly but wrote no complete {metrics_file}")
    return run
