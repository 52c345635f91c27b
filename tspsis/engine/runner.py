"""The process that :mod:`tspsis.engine.launch` starts: one mmengine ``Runner`` that trains or tests a config.

``python -m tspsis.engine.runner {train,test} CONFIG --work-dir DIR [--mixin FILE ...] [--checkpoint CKPT]
[--data-root ROOT] [--seed N] [--name NAME] [--launcher {none,pytorch,slurm}] [--resume] [--load-from WEIGHTS]
[--cfg-options k=v ...]``.

Resume and fine-tuning: with ``--resume`` a training goes on from DIR's own newest complete checkpoint
(``resume_checkpoint``: the one ``last_checkpoint`` names, else the newest complete ``iter_N.pth``, said in one
line). Without one, the weights of ``--load-from`` (else the config's ``load_from``) start a new run at iteration
0, the tensors that do not fit listed one line each (``fine_tune_report``). Checkpoints are written by
``tspsis.plugin.hooks.atomic_checkpoint.AtomicCheckpointHook``: never half there.

Launchers (mmengine's): ``none`` one process; ``pytorch`` one of ``torchrun``'s processes (one machine or several,
``tspsis.engine.launch``); ``slurm`` one task of an ``srun`` job (rank, world size and master from ``SLURM_PROCID``,
``SLURM_NTASKS``, ``SLURM_LOCALID``, ``SLURM_NODELIST`` and ``MASTER_ADDR`` / ``MASTER_PORT`` if set). Without a
GPU both distributed launchers run on gloo (``_init_cpu_distributed``).

Mixins (``--mixin``, repeated) are config files merged over CONFIG in the order given, before ``--cfg-options``:
a variant, a track or a hardware sizing that would otherwise be a copy of the config (README, "Configs").

Training ends with a test pass on the config's ``test_evaluator`` and writes ``DIR/metrics.json`` (rank 0,
atomically; ``run.seed`` is the training seed). A ``test`` never touches the training's files: it writes
``DIR/test-<name>.metrics.json`` (and ``test-<name>.segm.json`` ...), the name given by ``--name`` or made
from the checkpoint and the ``--cfg-options`` (``default_test_name``), so a test of the teacher head can never
be read as the training run's result.

Seeds: a config without ``randomness`` gets ``randomness = dict(seed=DEFAULT_SEED)`` (``load_config``), so
every run is seeded (mmengine seeds python, numpy and torch, and the samplers' shuffling, from it);
``--seed N`` sets ``randomness.seed = N``. On CPU the same seed gives the same losses iteration for iteration.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

METRICS_FILE = "metrics.json"
DEFAULT_SEED = 0  # randomness.seed of a config that sets none (mmengine would draw a new one every run)
DEFAULT_MASTER_PORT = 29500  # torch.distributed's, and mmengine's for slurm when MASTER_PORT is not set


class ConfigError(ValueError):
    """A config, mixin or option the user gave cannot be used; the message names the file or key."""


def replace_data_root(node: Any, old: str, new: str) -> Any:
    """Every string under ``node`` that starts with ``old`` now starts with ``new`` (paths of dataloaders
    and evaluators are built from ``data_root`` when the config is parsed, so changing the variable alone
    would not reach them)."""
    if isinstance(node, str):
        return new + node[len(old):] if node.startswith(old) else node
    if isinstance(node, dict):
        return {k: replace_data_root(v, old, new) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(replace_data_root(v, old, new) for v in node)
    return node


def scale_schedule(cfg, max_iters: int) -> None:
    """Shorten or lengthen an iteration-based schedule to ``max_iters``, keeping its shape: warm-up and lr
    steps at the same fractions of the run (the paper's steps at 8/12 and 11/12, Sec. 5.1), one validation at
    the end, checkpoints every sixth of the run (what a killed run resumes from)."""
    if cfg.train_cfg.get("type") != "IterBasedTrainLoop":
        raise ValueError(f"--max-iters needs an iteration-based schedule; train_cfg.type is {cfg.train_cfg.get('type')}")
    old = cfg.train_cfg.max_iters

    def rescale(it: int) -> int:
        return max(1, round(it * max_iters / old))

    for scheduler in cfg.param_scheduler:
        if "milestones" in scheduler:
            scheduler.milestones = [rescale(m) for m in scheduler.milestones]
        scheduler.end = max_iters if scheduler.get("end", old) >= old else rescale(scheduler.end)
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = max_iters
    cfg.default_hooks.checkpoint.interval = max(1, max_iters // 6)
    _rescale_warmups(cfg.model, rescale)


def _rescale_warmups(node: Any, rescale) -> None:
    """Warm-ups inside the model (BoxInst's pairwise-loss warm-up, the pseudo-label warm-up) follow the schedule."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "warmup_iters" and isinstance(value, int) and value > 0:
                node[key] = rescale(value)
            else:
                _rescale_warmups(value, rescale)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _rescale_warmups(value, rescale)


def _without_orphan_deletes(new: Any, old: Any) -> Any:
    """``new`` without the ``_delete_`` keys of dicts that have nothing to delete in ``old`` (mmengine leaves those
    in place when the key is new; where the key exists, the merge itself consumes ``_delete_``)."""
    if not isinstance(new, dict):
        return new
    if not isinstance(old, dict):
        return {k: _without_orphan_deletes(v, None) for k, v in new.items() if k != "_delete_"}
    return {k: _without_orphan_deletes(v, old.get(k)) for k, v in new.items()}


def composed_name(config: str | Path, mixins: Sequence[str | Path] = (), max_iters: int | None = None) -> str:
    """What a run trains, as one name: the leaf config's stem, then each mixin's stem in merge order, then
    ``<N>it`` when ``--max-iters N`` rescales the schedule, joined by ``+``; e.g.
    ``ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc+box-conditioned+box-cpu_1xb16+warmup-half+logits-lr+500it``.
    The one place such names are made: the run folder (``tspsis.lab.runs``), the resolved config the runner
    dumps (``WORK_DIR/<name>.py``) and the models of the configs' metafiles."""
    parts = [Path(config).stem, *(Path(m).stem for m in mixins)]
    return "+".join(parts if max_iters is None else [*parts, f"{int(max_iters)}it"])


def merge_mixin(cfg, mixin: str | Path) -> None:
    """Merge the config file ``mixin`` over ``cfg`` in place: mmengine's ``_base_`` semantics (dicts merge key by
    key, ``_delete_=True`` replaces a dict, any other value, lists included, replaces), as if its content were
    written at the end of the config. The mixin is parsed on its own (it may have a ``_base_`` of its own, and
    may not read the config's variables)."""
    content = _read_config(mixin, "mixin").to_dict()
    content.pop("_base_", None)
    cfg.merge_from_dict(_without_orphan_deletes(content, cfg.to_dict()), allow_list_keys=False)


def _stale_data_root(cfg) -> str | None:
    """The root the training dataset's paths were built from, if it is not the config's ``data_root`` variable.

    The dataset bases build every path (dataloaders, evaluators) from ``data_root`` when they are parsed, so a
    child config that sets ``data_root = 'elsewhere/'`` alone would leave them pointing at the old root (the trap
    of mmengine's variables); ``load_config`` moves them."""
    dataset = (cfg.get("train_dataloader") or {}).get("dataset") or {}
    built_from = dataset.get("data_root")
    if "data_root" not in cfg or not isinstance(built_from, str) or built_from == cfg.data_root:
        return None
    return built_from


_CONFIG_LOCK = threading.Lock()  # mmengine's parsing is not thread-safe (pkg_resources resolving `mmdet::` bases),
# and experiments.Context.run_all checks and trains runs from threads


def _read_config(path: str | Path, what: str):
    """``Config.fromfile`` of a config or mixin file; a missing or unreadable file is one ``ConfigError``."""
    from mmengine.config import Config

    if not Path(path).is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        with _CONFIG_LOCK:
            return Config.fromfile(str(path))
    except (SyntaxError, ImportError, NameError, OSError, KeyError) as err:
        # mmengine parses and executes the file: its message names the problem, the first line is enough
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{path}: cannot read this {what} ({type(err).__name__}: {detail})") from err


def _key_paths(node: Any, prefix: str = "") -> list[str]:
    """Every dotted key path of the nested dicts ``node`` (lists are leaves)."""
    paths = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}{key}"
            paths += [path, *_key_paths(value, path + ".")]
    return paths


def _has_key(node: Any, parts: list[str]) -> bool:
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]  # mmengine's DictAction: a list element by index
        else:
            return False
    return True


def checked_options(cfg, cfg_options: list[str]) -> list[str]:
    """``cfg_options`` with the ``+`` of new keys dropped, after checking that every other key path exists in
    ``cfg``: a typo (``randomnes.seed=3``, ``train_cfg.max_iter=10``) is a ``ConfigError`` that names the nearest
    existing key. ``+KEY=VALUE`` adds a key the config does not have (a component's optional argument)."""
    import difflib

    resolved, plain = cfg.to_dict(), []
    for option in cfg_options:
        key, equals, value = option.partition("=")
        if not equals or not key.lstrip("+"):
            raise ConfigError(f"--cfg-options {option!r}: expected KEY=VALUE")
        if key.startswith("+"):
            key = key[1:]
        elif not _has_key(resolved, key.split(".")):
            near = difflib.get_close_matches(key, _key_paths(resolved), n=1, cutoff=0.6)
            hint = f"did you mean {near[0]}? " if near else ""
            raise ConfigError(f"--cfg-options {key}: no such key in the resolved config; {hint}"
                              f"(a new key needs a '+' prefix: +{key}={value})")
        plain.append(f"{key}={value}")
    return plain


def load_config(config: str, work_dir: str, cfg_options: list[str], data_root: str | None = None,
                max_iters: int | None = None, mixins: list[str] | tuple[str, ...] = (), seed: int | None = None):
    """The resolved config of a run: ``config``, then ``mixins`` merged over it in order (``merge_mixin``), then
    ``cfg_options`` (mmengine ``--cfg-options`` syntax, keys checked by ``checked_options``), paths moved to
    ``data_root``, the schedule rescaled to ``max_iters``, ``randomness.seed`` set to ``seed`` (or to
    ``DEFAULT_SEED`` when neither the config nor the options set one) and ``work_dir``. A missing or unreadable
    file, or an unknown option key, is a ``ConfigError`` / ``FileNotFoundError`` naming it."""
    from mmengine.config import DictAction

    cfg = _read_config(config, "config")
    for mixin in mixins:
        merge_mixin(cfg, mixin)
    if (cfg.get("randomness") or {}).get("seed") is None:  # before the options, so that they may set it
        cfg.randomness = dict(cfg.get("randomness") or {}, seed=DEFAULT_SEED)
    if cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument("--o", nargs="+", action=DictAction)
        cfg.merge_from_dict(parser.parse_args(["--o", *checked_options(cfg, cfg_options)]).o)
    built_from = _stale_data_root(cfg)
    if built_from is not None:  # a child changed `data_root` alone: move the paths the bases built from the old one
        cfg.merge_from_dict(replace_data_root(cfg.to_dict(), built_from, cfg.data_root), allow_list_keys=True)
    if data_root is not None:
        if "data_root" not in cfg:
            raise ValueError(f"{config}: --data-root given but the config defines no `data_root` variable")
        new_root = str(data_root).rstrip("/") + "/"
        cfg.merge_from_dict(replace_data_root(cfg.to_dict(), cfg.data_root, new_root), allow_list_keys=True)
    if max_iters is not None:
        scale_schedule(cfg, max_iters)
    if seed is not None:
        cfg.randomness = dict(cfg.randomness, seed=int(seed))
    cfg.work_dir = str(work_dir)
    return cfg


def default_test_name(checkpoint: str | None, cfg_options: list[str]) -> str:
    """The default ``--name`` of a test: the checkpoint's stem and the options' last key parts, e.g.
    ``iter_12-test_mask_head-teacher`` (a long one is cut and ends in a hash of the whole)."""
    import hashlib

    parts = [Path(checkpoint).stem if checkpoint else "no-checkpoint"]
    for option in cfg_options:
        key, _, value = option.partition("=")
        parts.append(f"{key.rsplit('.', 1)[-1]}-{Path(value).name or value}")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts)).strip("_")
    if len(name) > 80:
        name = name[:69] + "-" + hashlib.sha256(name.encode()).hexdigest()[:10]
    return name


def metrics_file_of_test(name: str) -> str:
    """What ``test --name NAME`` writes in the work dir (never ``METRICS_FILE``)."""
    return f"test-{name}.metrics.json"


def slurm_environment(env: Mapping[str, str]) -> dict[str, str]:
    """torch's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` for the slurm task whose
    variables are ``env``, as mmengine's ``_init_dist_slurm`` sets them: the master is ``MASTER_ADDR`` if set, else
    the first host of ``SLURM_NODELIST`` (``scontrol show hostname``); the port ``MASTER_PORT``, else 29500."""
    addr = env.get("MASTER_ADDR") or subprocess.run(
        ["scontrol", "show", "hostname", env["SLURM_NODELIST"]], capture_output=True, text=True,
        check=True).stdout.split()[0]
    return dict(RANK=env["SLURM_PROCID"], WORLD_SIZE=env["SLURM_NTASKS"], LOCAL_RANK=env.get("SLURM_LOCALID", "0"),
                MASTER_ADDR=addr, MASTER_PORT=env.get("MASTER_PORT", str(DEFAULT_MASTER_PORT)))


def _init_cpu_distributed(cfg, launcher: str) -> None:
    """torchrun or srun without GPUs (tests, CPU clusters): gloo, and DDP without device ids.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device``; initialising the process group first makes the
    Runner skip it. ``launcher`` ``slurm``: the task's SLURM_* variables become torch's (``slurm_environment``).
    """
    if launcher == "slurm":
        os.environ.update(slurm_environment(os.environ))
    torch.distributed.init_process_group(backend="gloo")
    cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", broadcast_buffers=False, device_ids=None)


def _last_checkpoint(work_dir: Path) -> str | None:
    marker = work_dir / "last_checkpoint"
    return marker.read_text().strip() if marker.is_file() else None


def say(message: str) -> None:
    """A line for the user, from rank 0 only: ``tspsis.engine.launch`` shows the lines that start with ``tspsis: ``
    on the console (everything else goes to the log)."""
    if os.environ.get("RANK", "0") == "0":
        print(f"tspsis: {message}", flush=True)


_CHECKPOINT_NAME = re.compile(r"(?:iter|epoch)_(\d+)\.pth")


def resume_checkpoint(work_dir: Path) -> str | None:
    """The checkpoint a resumed training starts from: the one ``last_checkpoint`` names if it is complete
    (``tspsis.core.checkpoint.check_checkpoint_file``), else the newest complete ``iter_N.pth`` / ``epoch_N.pth`` of
    ``work_dir`` (said in one line), else None (a new run)."""
    from tspsis.core.checkpoint import CorruptCheckpointError, check_checkpoint_file

    named = _last_checkpoint(work_dir)
    if named:
        try:
            check_checkpoint_file(named)
            return named
        except (FileNotFoundError, CorruptCheckpointError) as err:
            problem = str(err)
    saved = sorted((p for p in work_dir.glob("*.pth") if _CHECKPOINT_NAME.fullmatch(p.name)),
                   key=lambda p: int(_CHECKPOINT_NAME.fullmatch(p.name).group(1)), reverse=True)
    for candidate in saved:
        try:
            check_checkpoint_file(candidate)
        except (FileNotFoundError, CorruptCheckpointError):
            continue
        if named:
            say(f"last_checkpoint names an unusable file ({problem}); taking the newest complete checkpoint")
        return str(candidate)
    if named:
        say(f"last_checkpoint names an unusable file ({problem}) and {work_dir} has no complete checkpoint: "
            "training from the start")
    return None


def fine_tune_report(model, weights: str) -> list[str]:
    """What loading ``weights`` into ``model`` (mmengine's ``load_checkpoint``, not strict) will do, one line per
    problem: tensors skipped for a shape mismatch (e.g. a class-agnostic head's logits into a class-specific head),
    and the counts of tensors only one side has."""
    from mmengine.model import is_model_wrapper

    from tspsis.core.checkpoint import load_checkpoint_file

    model = model.module if is_model_wrapper(model) else model
    state = load_checkpoint_file(weights, map_location="cpu")
    state = state.get("state_dict", state) if isinstance(state, dict) else {}
    state = {re.sub(r"^module\.", "", k): v for k, v in state.items()}  # mmengine's default revise_keys
    own = model.state_dict()
    mismatched = [k for k, v in state.items() if k in own and getattr(v, "shape", None) != own[k].shape]
    loaded = sum(1 for k in state if k in own) - len(mismatched)
    lines = [f"fine-tuning from {weights}: a new run from iteration 0; {loaded} of {len(own)} tensors of the model "
             "loaded"]
    lines += [f"not loaded (shape mismatch): {k}: {tuple(state[k].shape)} in the weights, {tuple(own[k].shape)} in "
              "the model" for k in mismatched]
    for what, keys in (("not in the weights (kept as initialised)", [k for k in own if k not in state]),
                       ("not in the model (ignored)", [k for k in state if k not in own])):
        if keys:
            lines.append(f"{what}: {len(keys)} tensors, e.g. {', '.join(keys[:3])}")
    return lines


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
    ap.add_argument("config")
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--mixin", action="append", default=[], metavar="FILE",
                    help="config file merged over CONFIG (repeatable; in order)")
    ap.add_argument("--checkpoint")
    ap.add_argument("--data-root")
    ap.add_argument("--max-iters", type=int, help="rescale an iteration-based schedule to this length")
    ap.add_argument("--seed", type=int, help=f"randomness.seed (default: the config's, else {DEFAULT_SEED})")
    ap.add_argument("--name", help="test mode: results go to test-NAME.metrics.json (default: default_test_name())")
    ap.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none")
    ap.add_argument("--resume", action="store_true", help="train: resume from the work dir's newest complete "
                                                          "checkpoint, if it has one")
    ap.add_argument("--load-from", metavar="WEIGHTS", help="train: a new run that starts from these weights "
                                                           "(overrides the config's load_from)")
    ap.add_argument("--cfg-options", nargs="+", default=[])
    process_start = time.time()
    args = ap.parse_args(argv)
    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name):
        ap.error(f"--name {args.name!r}: letters, digits, '_', '.' and '-' only (it names a file)")

    import tspsis.plugin  # noqa: F401  (registers the plugin; configs also list it in custom_imports)
    from mmengine.config import Config
    from mmengine.dist import barrier
    from mmengine.runner import Runner

    from tspsis.core.checkpoint import check_checkpoint_file, install_mmengine_loader
    from tspsis.core.io import write_json_atomic

    install_mmengine_loader()
    work_dir = Path(args.work_dir)
    cfg = load_config(args.config, str(work_dir), args.cfg_options, args.data_root, args.max_iters, args.mixin,
                      args.seed)
    cfg.launcher = args.launcher
    if args.launcher != "none" and not torch.cuda.is_available():
        _init_cpu_distributed(cfg, args.launcher)
    # training: test.* and metrics.json; a test: test-<name>.* only, whatever else is in the folder
    name = None if args.mode == "train" else (args.name or default_test_name(args.checkpoint, args.cfg_options))
    prefix = work_dir / ("test" if name is None else f"test-{name}")
    out_path = work_dir / (METRICS_FILE if name is None else metrics_file_of_test(name))
    testing = cfg.get("test_evaluator") is not None and cfg.get("test_dataloader") is not None
    if testing:
        cfg.test_evaluator.outfile_prefix = str(prefix)
    else:  # a training without a test (e.g. the shared pre-training): mmengine wants all three or none
        cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    weights = None  # train: a new run from these weights (fine-tuning)
    if args.mode == "train":
        # Resume only from this work dir's own checkpoints; `load_from` (the config's, or --load-from) starts a new
        # run from weights. (mmengine would resume from load_from: KeyError 'epoch' for weights alone, and the
        # other run's iteration and schedule for a full checkpoint.) Either is named to the runner explicitly, so
        # that its test pass never looks for a last_checkpoint again.
        own = resume_checkpoint(work_dir) if args.resume else None
        weights = None if own else (args.load_from or cfg.get("load_from"))
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
    # a training's named for the whole composition (composed_name), a test's apart, like its metrics (test-NAME.py)
    dumped = (Path(f"{prefix}.py") if name is not None
              else work_dir / f"{composed_name(args.config, args.mixin, args.max_iters)}.py")
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
        meta = dict(config=str(args.config), mixins=list(args.mixin), dumped_config=dumped.name, mode=args.mode,
                    iters=runner.iter, complete=True,
                    checkpoint=args.checkpoint if args.mode == "test" else _last_checkpoint(work_dir),
                    world_size=runner.world_size, seed=runner.seed, name=name)
        if args.mode == "train":
            meta.update(wall_seconds_this_process=train_seconds, **_iter_times(runner))
        meta["wall_seconds_total"] = time.time() - process_start  # start-up, training and test: a run's cost
        flat = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in flat.items()}
        write_json_atomic(out_path, dict(detail, flat=flat, run=meta), indent=1)
    barrier()  # no process exits before the metrics exist: each node's launcher reads them once its processes exit
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
