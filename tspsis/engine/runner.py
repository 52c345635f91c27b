"""The process that :mod:`tspsis.engine.launch` starts: one mmengine ``Runner`` that trains or tests a run request.

``python -m tspsis.engine.runner {train,test} REQUEST --work-dir DIR [--checkpoint CKPT] [--name NAME]
[--launcher {none,pytorch,slurm}] [--resume]``, REQUEST a request record (``tspsis.engine.work_dir.REQUEST_FILE``,
written by the launcher): the config is composed from it here (``RunRequest.resolved_config``), once.

Resume and fine-tuning: with ``--resume`` a training goes on from DIR's own newest complete checkpoint
(``tspsis.engine.resume.resume_checkpoint``). Without one, the request's ``load_from`` (else the config's)
starts a new run at iteration 0, the tensors that do not fit listed one line each (``fine_tune_report``).
Checkpoints are written by ``tspsis.plugin.hooks.atomic_checkpoint.AtomicCheckpointHook``: never half there.

Launchers (mmengine's): ``none`` one process; ``pytorch`` one of ``torchrun``'s processes (one machine or several,
``tspsis.engine.launch``); ``slurm`` one task of an ``srun`` job (``tspsis.engine.distributed``). Without a GPU both
distributed launchers run on gloo.

Training ends with a test pass on the config's ``test_evaluator`` and writes ``DIR/metrics.json`` (rank 0,
atomically; ``run.seed`` is the training seed, ``run.request`` the request record's file; ``training`` what the hooks
recorded about the training, ``tspsis.plugin.hooks.training_summary``: e.g. the teacher's foreground ratio and
the pseudo masks' IoU at the end). A ``test`` never touches
the training's files: it writes ``DIR/test-<name>.metrics.json`` (and ``test-<name>.segm.json`` ...), the name given
by ``--name`` or made from the checkpoint and the options (``default_test_name``), so a test of the teacher head can
never be read as the training run's result. On CPU the same seed gives the same losses iteration for iteration.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path

import torch

from tspsis.core.console import say
from tspsis.engine.request import RunRequest
from tspsis.engine.work_dir import METRICS_FILE, default_test_name, last_checkpoint, metrics_file_of_test


def _iter_times(runner) -> dict:
    """Per-iteration training time over the whole run (the message hub's history survives a resume)."""
    import numpy as np

    if "train/time" not in runner.message_hub.log_scalars:
        return {}
    times = runner.message_hub.get_scalar("train/time").data[0]
    return dict(iter_time_median=float(np.median(times)), iter_time_mean=float(np.mean(times)),
                timed_iters=int(len(times)))


def main(argv: list[str] | None = None) -> int:
    """Run; a user's mistake (``tspsis.core.errors.is_user_error``) ends as one line with ``USER_ERROR_PREFIX`` and
    status 2 (the launcher shows it), unless ``TSPSIS_DEBUG`` asks for the traceback."""
    from tspsis.core.errors import USER_ERROR_PREFIX, debugging, is_user_error

    try:
        return _main(argv)
    except Exception as err:
        if debugging() or not is_user_error(err):
            raise
        print(f"{USER_ERROR_PREFIX}{err}", file=sys.stderr, flush=True)
        return 2


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["train", "test"])
    ap.add_argument("request", help="the request record (tspsis.engine.request.RunRequest.record) of the run")
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--checkpoint", help="test mode: the weights to test")
    ap.add_argument("--name", help="test mode: results go to test-NAME.metrics.json (default: default_test_name())")
    ap.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none")
    ap.add_argument("--resume", action="store_true", help="train: resume from the work dir's newest complete "
                                                          "checkpoint, if it has one")
    process_start = time.time()
    args = ap.parse_args(argv)
    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name):
        ap.error(f"--name {args.name!r}: letters, digits, '_', '.' and '-' only (it names a file)")

    import tspsis.plugin  # noqa: F401  (registers the plugin; configs also list it in custom_imports)
    from mmengine.config import Config
    from mmengine.dist import barrier
    from mmengine.runner import Runner

    from tspsis.core.checkpoint import check_checkpoint_file, install_mmengine_loader
    from tspsis.core.io import read_json, write_json_atomic
    from tspsis.engine.distributed import init_cpu_distributed
    from tspsis.engine.resume import fine_tune_report, resume_checkpoint
    from tspsis.plugin.hooks.training_summary import TRAINING_SUMMARY_INFO

    install_mmengine_loader()
    work_dir = Path(args.work_dir)
    request = RunRequest.from_record(read_json(Path(args.request), "request"))
    cfg = request.resolved_config(work_dir)  # the child's one parse of the run's files
    cfg.launcher = args.launcher
    if args.launcher != "none" and not torch.cuda.is_available():
        init_cpu_distributed(cfg, args.launcher)
    # training: test.* and metrics.json; a test: test-<name>.* only, whatever else is in the folder
    name = None if args.mode == "train" else (args.name or default_test_name(args.checkpoint,
                                                                             list(request.cfg_options)))
    prefix = work_dir / ("test" if name is None else f"test-{name}")
    out_path = work_dir / (METRICS_FILE if name is None else metrics_file_of_test(name))
    testing = cfg.get("test_evaluator") is not None and cfg.get("test_dataloader") is not None
    if testing:
        cfg.test_evaluator.outfile_prefix = str(prefix)
    else:  # a training without a test (e.g. the shared pre-training): mmengine wants all three or none
        cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    weights = None  # train: a new run from these weights (fine-tuning)
    if args.mode == "train":
        # Resume only from this work dir's own checkpoints; `load_from` (the request's, else the config's) starts a
        # new run from weights. (mmengine would resume from load_from: KeyError 'epoch' for weights alone, and the
        # other run's iteration and schedule for a full checkpoint.) Either is named to the runner explicitly, so
        # that its test pass never looks for a last_checkpoint again.
        own = resume_checkpoint(work_dir) if args.resume else None
        weights = None if own else (str(request.load_from) if request.load_from else cfg.get("load_from"))
        if weights:
            check_checkpoint_file(weights)
        cfg.resume, cfg.load_from = own is not None, own or weights
        if own:
            say(f"resuming from {own}")
        # the final model is tested below; the loop's own validation at the last iteration would score it twice
        cfg.train_cfg.val_begin = 2**31
    else:
        if args.checkpoint:
            check_checkpoint_file(args.checkpoint)
        cfg.load_from = args.checkpoint
        cfg.resume = False

    # The resolved config mmengine dumps (Runner.dump_config names it after cfg.filename; tspsis.viz reads it):
    # a training's named for the whole composition (RunRequest.name), a test's apart, like its metrics (test-NAME.py)
    dumped = Path(f"{prefix}.py") if name is not None else work_dir / f"{request.name}.py"
    super(Config, cfg).__setattr__("_filename", str(dumped))
    runner = Runner.from_cfg(cfg)
    for line in fine_tune_report(runner.model, weights) if weights else ():
        say(line)
    start = time.time()
    if args.mode == "train":
        runner.train()
    train_seconds = time.time() - start
    flat = runner.test() if testing else {}
    if runner.rank == 0:
        detail_path = Path(f"{prefix}.metrics.json")  # PartialCocoMetric's nested metrics
        detail = json.loads(detail_path.read_text()) if testing and detail_path.is_file() else {}
        meta = dict(request=Path(args.request).name, dumped_config=dumped.name, mode=args.mode, iters=runner.iter,
                    complete=True, checkpoint=args.checkpoint if args.mode == "test" else last_checkpoint(work_dir),
                    world_size=runner.world_size, seed=runner.seed, name=name)
        if args.mode == "train":
            meta.update(wall_seconds_this_process=train_seconds, **_iter_times(runner))
            # what the hooks recorded about the training (the teacher's foreground ratio, the pseudo masks' IoU)
            training = runner.message_hub.get_info(TRAINING_SUMMARY_INFO)
            if training:
                detail["training"] = training
        meta["wall_seconds_total"] = time.time() - process_start  # start-up, training and test: a run's cost
        flat = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in flat.items()}
        write_json_atomic(out_path, dict(detail, flat=flat, run=meta), indent=1)
    barrier()  # no process exits before the metrics exist: each node's launcher reads them once its processes exit
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
