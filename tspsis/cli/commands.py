"""``tspsis`` console entry point. Each sub-command imports its module only when it runs.

Errors the user can fix (``tspsis.core.errors``) are one line and exit status 2; ``--debug`` (or ``TSPSIS_DEBUG=1``)
shows the traceback instead. SIGINT and SIGTERM stop the processes a command started first, then the command,
with one line that says how to go on (exit status 128 + the signal's number).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path


def _doctor(args: argparse.Namespace) -> int:
    from tspsis.cli.doctor import print_checks

    return print_checks()


def _synth(args: argparse.Namespace) -> int:
    from tspsis.core.synth import generate

    generate(args.profile, args.out, seed=args.seed)
    print(f"synthetic '{args.profile}' data (seed {args.seed}) in {args.out}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from tspsis.core.stats import dataset_stats, format_stats

    stats = dataset_stats(args.ann, manifest_path=args.manifest)
    print(json.dumps(stats, indent=1) if args.json else format_stats(stats))
    return 0


def _split(args: argparse.Namespace) -> int:
    from tspsis.core.splits import write_split

    manifest = write_split(args.ann, args.seen, args.out)
    print(f"{args.out}: {len(manifest['seen_category_ids'])} seen, {len(manifest['unseen_category_ids'])} unseen "
          "categories (unseen instances are box-only)")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from tspsis.eval import evaluate_files, format_metrics

    metrics = evaluate_files(args.gt, args.dt, args.manifest, args.out, backend=args.backend)
    print(format_metrics(metrics))
    return 0


def _placement(args: argparse.Namespace) -> dict:
    """Where ``train``/``test`` run: the launcher and the nodes (``tspsis.engine.launch.resolve_nodes``)."""
    return dict(nodes=args.nodes, node_rank=args.node_rank, master_addr=args.master_addr,
                master_port=args.master_port, launcher=args.launcher)


def _train(args: argparse.Namespace) -> int:
    from tspsis.engine.launch import train
    from tspsis.engine.request import RunRequest

    request = RunRequest(args.config, tuple(args.mixin or ()), tuple(args.cfg_options or ()), args.data_root,
                         args.max_iters, args.seed, args.load_from)
    run = train(request, args.work_dir, gpus=args.gpus, resume=args.resume, force=args.force, **_placement(args))
    print(f"checkpoint: {run.checkpoint}\nmetrics: {run.metrics_path}")
    return 0


def _test(args: argparse.Namespace) -> int:
    from tspsis.engine.launch import test
    from tspsis.engine.request import RunRequest

    request = RunRequest(args.config, tuple(args.mixin or ()), tuple(args.cfg_options or ()), args.data_root)
    run = test(request, args.checkpoint, args.work_dir, gpus=args.gpus, name=args.name, **_placement(args))
    print(f"metrics: {run.metrics_path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from tspsis.cli.predict import predict

    run = predict(args.config, args.checkpoint, args.inputs, args.out_dir, mixins=args.mixin,
                  score_thr=args.score_thr, boxes=args.boxes, device=args.device, data_root=args.data_root)
    print(f"{len(run.images)} images, {run.num_instances} instances: {run.out_dir}/preds/*.json, "
          f"{run.out_dir}/vis/*.png, {run.results_file}")
    return 0


def _run_notebooks(args: argparse.Namespace) -> int:
    from tspsis.lab.notebooks import run_notebooks

    only = [s.strip() for s in args.only.split(",")] if args.only else None
    return run_notebooks(args.profile, only=only, out=args.out, gpus=args.gpus, nodes=args.nodes, seed=args.seed,
                         train_seed=args.train_seed, data_root=args.data_root, work_dir=args.work_dir,
                         force=args.force)


def _pretrain(args: argparse.Namespace) -> int:
    from tspsis.lab import default_data_root, prepare_data, pretraining

    data = prepare_data(args.profile, args.data_root or default_data_root(args.profile), seed=args.seed)
    run = pretraining(args.profile, data["root"], gpus=args.gpus or 0)
    run.train()
    print(f"pre-trained weights: {run.final_checkpoint}\n(every trained row of the {args.profile} profile starts "
          f"from them: --cfg-options +model.init_cfg.type=Pretrained +model.init_cfg.checkpoint=...)")
    return 0


def _seeds(text: str) -> int | list[int]:
    """``--train-seed``: ``N`` or ``N,M,...`` (each run once per seed)."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or N,M,... (integers), got {text!r}") from None
    return seeds[0] if len(seeds) == 1 else seeds


GPUS_HELP = ("default: every visible GPU, the CPU when none is visible; 0: CPU; N > 1: torchrun with N "
             "processes (per node)")
NODES_HELP = ("machines (default 1); N > 1: torchrun --nnodes N, the same command on every node, the work dir on a "
              "file system they all see")


def build_parser() -> argparse.ArgumentParser:
    from tspsis.lab.profiles import PROFILES

    parser = argparse.ArgumentParser(prog="tspsis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks, not one-line errors "
                                                             "(also TSPSIS_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("doctor", help="check the environment (torch, mmcv ops, mmdet, kernels)").set_defaults(func=_doctor)

    data = sub.add_parser("data", help="synthetic benchmark and dataset statistics")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    synth = data_sub.add_parser("synth", help="generate the synthetic overlap benchmark (COCO format)")
    synth.add_argument("--profile", choices=["tiny", "demo", "full"], default="demo")
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=_synth)
    stats = data_sub.add_parser("stats", help="images, instances, area buckets, overlap O, split coverage")
    stats.add_argument("ann", type=Path)
    stats.add_argument("--manifest", type=Path)
    stats.add_argument("--json", action="store_true", help="print the raw statistics as JSON")
    stats.set_defaults(func=_stats)

    split = sub.add_parser("split", help="write a partially supervised training file (unseen = box-only)")
    split.add_argument("--ann", type=Path, required=True)
    split.add_argument("--seen", required=True, help="voc | nonvoc | first-K | disjoint-appearance | disjoint-shape "
                                                     "| disjoint-both | comma-separated category names")
    split.add_argument("--out", type=Path, required=True)
    split.set_defaults(func=_split)

    ev = sub.add_parser("eval", help="COCO AP on unseen / seen / all categories, per overlap bin")
    ev.add_argument("--gt", type=Path, required=True)
    ev.add_argument("--dt", type=Path, required=True)
    ev.add_argument("--manifest", type=Path, required=True)
    ev.add_argument("--out", type=Path)
    ev.add_argument("--backend", choices=["pycocotools", "faster_coco_eval"], default="pycocotools")
    ev.set_defaults(func=_eval)

    for name, func, helptext in (("train", _train, "train a config in a subprocess (resumable)"),
                                 ("test", _test, "test a checkpoint; write unseen/seen/all metrics JSON")):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("config", type=Path)
        if name == "test":
            cmd.add_argument("checkpoint", type=Path)
        cmd.add_argument("--work-dir", type=Path, required=True)
        cmd.add_argument("--mixin", type=Path, action="append", default=[], metavar="FILE",
                         help="config file merged over CONFIG: a variant, track or hardware sizing "
                              "(repeatable, applied in order)")
        cmd.add_argument("--data-root", type=Path, help="replace the config's data_root")
        cmd.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                         help="override keys of the resolved config (a.b.c=V); a key the config lacks is an error, "
                              "unless added with a '+' prefix (+a.b.new=V)")
        cmd.add_argument("--gpus", type=int, default=None, help=GPUS_HELP + (" (test: one process per node at most)"
                                                                          if name == "test" else ""))
        cmd.add_argument("--nodes", type=int, default=1, help=NODES_HELP)
        cmd.add_argument("--node-rank", type=int, help="this machine's rank, 0 … NODES-1 (default $NODE_RANK)")
        cmd.add_argument("--master-addr", help="node 0's host name or address (default $MASTER_ADDR)")
        cmd.add_argument("--master-port", type=int, help="node 0's port (default $MASTER_PORT, else 29500; one "
                                                         "machine: a free port)")
        cmd.add_argument("--launcher", choices=["local", "slurm"], default="local",
                         help="local (default): tspsis starts one process or torchrun; slurm: run under srun, one "
                              "task per process, each runs the runner itself (mmengine's slurm launcher; --gpus "
                              "and --nodes are srun's)")
        if name == "test":
            cmd.add_argument("--name", help="results go to WORK_DIR/test-NAME.metrics.json (default: the "
                                            "checkpoint's stem and the options); metrics.json is never touched")
        if name == "train":
            cmd.add_argument("--seed", type=int, help="training seed, randomness.seed (default: the config's, "
                                                      "else 0)")
            cmd.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                             help="resume from the newest complete checkpoint in --work-dir (default: on)")
            cmd.add_argument("--load-from", type=Path, metavar="WEIGHTS",
                             help="start a new run from these weights (fine-tuning; shape mismatches are listed); "
                                  "a run with checkpoints of its own resumes from them")
            cmd.add_argument("--force", action="store_true", help="train even if the run is complete")
            cmd.add_argument("--max-iters", type=int, help="rescale an iteration-based schedule to N iterations")
        cmd.set_defaults(func=func)

    pr = sub.add_parser("predict", help="masks for images: the model's detections, or given boxes (--boxes)")
    pr.add_argument("config", type=Path)
    pr.add_argument("checkpoint", type=Path)
    pr.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="images and/or folders of images")
    pr.add_argument("--out-dir", type=Path, required=True, help="preds/*.json, vis/*.png, results.segm.json")
    pr.add_argument("--mixin", type=Path, action="append", default=[], metavar="FILE",
                    help="config merged over CONFIG (repeatable, in order)")
    pr.add_argument("--score-thr", type=float, help="keep scores >= T in preds/vis (default 0.3; 0 with --boxes)")
    pr.add_argument("--boxes", type=Path, help="COCO file (matched by file_name), per-image JSON or folder of them")
    pr.add_argument("--device", help="cpu, cuda:0, ... (default: CUDA if available)")
    pr.add_argument("--data-root", type=Path, help="replace the config's data_root (class names / category ids)")
    pr.set_defaults(func=_predict)

    pre = sub.add_parser("pretrain", help="the profile's shared pre-training: box classification of every category "
                                          "(boxes and labels, no mask), cached under DATA_ROOT/pretrained/")
    pre.add_argument("--profile", choices=[n for n, p in PROFILES.items() if p.schedule.pretrain_iters],
                     default="demo")
    pre.add_argument("--data-root", type=Path, help="data folder (default data/synth/<profile>; made if missing)")
    pre.add_argument("--seed", type=int, default=0, help="seed of the synthetic data if it is made (default 0)")
    pre.add_argument("--gpus", type=int, default=None, help=GPUS_HELP)
    pre.set_defaults(func=_pretrain)

    nb = sub.add_parser("run-notebooks", help="execute notebooks/ in order with papermill")
    nb.add_argument("--profile", choices=PROFILES, default="demo")
    nb.add_argument("--only", help="comma-separated notebook number prefixes, e.g. 00,03")
    nb.add_argument("--out", type=Path, help="output folder (default papermill_runs/<date>-<profile>)")
    nb.add_argument("--gpus", type=int, default=None, help=GPUS_HELP)
    nb.add_argument("--nodes", type=int, default=1, help=NODES_HELP + "; each node's rank and node 0's address from "
                                                         "$NODE_RANK, $MASTER_ADDR ($MASTER_PORT, else 29500)")
    nb.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    nb.add_argument("--train-seed", type=_seeds, default=None, metavar="N[,M,...]",
                    help="training seed(s) (default: the profile's, PROFILES[profile].schedule.train_seeds); several: "
                         "each run once per seed, tables show mean ± std (n)")
    nb.add_argument("--force", action="store_true",
                    help="re-execute notebooks already complete in --out (cached training runs are reused: "
                         "their key covers config, model code and data)")
    nb.add_argument("--data-root", type=Path, help="data folder (default data/synth/<profile> or data/coco)")
    nb.add_argument("--work-dir", type=Path, help="experiment cache (default work_dirs/<profile>; demo-all: the "
                                                  "demo's)")
    nb.set_defaults(func=_run_notebooks)
    return parser


def _stopped_line(args: argparse.Namespace) -> str:
    """How to go on after a signal stopped ``args.command``."""
    if args.command == "train":
        return f"the same command resumes from the newest checkpoint in {args.work_dir}"
    if args.command == "run-notebooks":
        return "the same command goes on: finished notebooks are skipped, trainings resume from their checkpoints"
    return "nothing was finished; run the command again"


def _raise_stopped(signum, frame) -> None:
    from tspsis.core.signals import Stopped

    raise Stopped(signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.debug:
        os.environ["TSPSIS_DEBUG"] = "1"  # the training processes inherit it
    from tspsis.core.errors import debugging, is_user_error

    # SIGTERM like Ctrl-C: an exception, after the children have stopped (tspsis.core.signals); main thread only
    previous = signal.signal(signal.SIGTERM, _raise_stopped) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        return args.func(args)
    except KeyboardInterrupt as err:  # SIGINT, or SIGTERM (signals.Stopped)
        signum = getattr(err, "signum", signal.SIGINT)
        print(f"tspsis {args.command}: stopped by {signal.Signals(signum).name}; {_stopped_line(args)}",
              file=sys.stderr)
        return 128 + signum
    except Exception as err:  # bad input or a missing device: one clear line, not a traceback
        if debugging() or not is_user_error(err):
            raise
        print(f"tspsis {args.command}: error: {err}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
