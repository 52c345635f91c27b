"""``tspsis`` console entry point. Each sub-command imports its module only when it runs.

Errors the user can fix (``tspsis.core.errors``) are one line and exit status 2; ``--debug`` (or ``TSPSIS_DEBUG=1``)
shows the traceback instead. SIGINT and SIGTERM stop the processes a command started first, then the command,
with one line that says how to go on (exit status 128 + the signal's number).

One flag, one meaning, across the commands (docs/cli.md): --out-dir an output folder, --out an output file,
--data-seed the generator's seed, --train-seed the training seed, --gpus a number of processes.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from tspsis.cli.options import RawHelpFormatter, add_command, add_option


def _doctor(args: argparse.Namespace) -> int:
    from tspsis.cli.doctor import print_checks

    return print_checks()


def _synth(args: argparse.Namespace) -> int:
    from tspsis.core.synth import generate

    generate(args.profile, args.out_dir, seed=args.data_seed)
    print(f"synthetic '{args.profile}' data (seed {args.data_seed}) in {args.out_dir}")
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
                         args.max_iters, args.train_seed, args.load_from)
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
    return run_notebooks(args.profile, only=only, out=args.out_dir, gpus=args.gpus, nodes=args.nodes,
                         seed=args.data_seed, train_seed=args.train_seed, data_root=args.data_root,
                         work_dir=args.work_dir, force=args.force)


def _pretrain(args: argparse.Namespace) -> int:
    from tspsis.lab import default_data_root, prepare_data, pretraining, require_device

    gpus = require_device(args.profile, args.gpus)  # as train's --gpus: unset = every visible GPU, else the CPU
    data = prepare_data(args.profile, args.data_root or default_data_root(args.profile), seed=args.data_seed)
    run = pretraining(args.profile, data["root"], gpus=gpus)
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


# One wording per flag across the sub-commands (docs/cli.md)
GPUS_HELP = ("processes: unset = every visible GPU, the CPU when none is visible (tspsis.engine.launch.resolve_gpus); "
             "0 = CPU; N > 1 = torchrun with N processes")
PER_NODE = " on each node"
NODES_HELP = ("machines; N > 1: torchrun --nnodes N, the same command on every node, the output folder on a file "
              "system they all see")
DATA_SEED_HELP = "seed of the synthetic data generator (tspsis.core.synth.generate)"
DATA_ROOT_HELP = "replace the config's data_root"
MIXIN_HELP = ("config file merged over CONFIG: a variant, track or hardware sizing (repeatable, applied in order)")


def _add_run_options(cmd: argparse.ArgumentParser, name: str) -> None:
    """The options ``train`` and ``test`` share: the run's folder, its config, where it runs."""
    add_option(cmd, "--out-dir", "--work-dir", dest="work_dir", type=Path, required=True, metavar="DIR",
               help="the run's folder (checkpoints, logs, metrics); --work-dir is the same flag, MMDetection's word")
    add_option(cmd, "--mixin", type=Path, action="append", default=[], metavar="FILE", help=MIXIN_HELP)
    add_option(cmd, "--data-root", type=Path, help=DATA_ROOT_HELP)
    add_option(cmd, "--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
               help="override keys of the resolved config (a.b.c=V); a key the config lacks is an error, unless "
                    "added with a '+' prefix (+a.b.new=V)")
    add_option(cmd, "--gpus", type=int, help=GPUS_HELP + PER_NODE + (" (test: one process per node at most)"
                                                                     if name == "test" else ""))
    add_option(cmd, "--nodes", type=int, default=1, help=NODES_HELP)
    add_option(cmd, "--node-rank", type=int, help="this machine's rank, 0 … NODES-1 (unset: $NODE_RANK)")
    add_option(cmd, "--master-addr", help="node 0's host name or address (unset: $MASTER_ADDR)")
    add_option(cmd, "--master-port", type=int, help="node 0's port (unset: $MASTER_PORT, else 29500; one machine: "
                                                     "a free port)")
    add_option(cmd, "--launcher", choices=["local", "slurm"], default="local",
               help="local: tspsis starts one process or torchrun; slurm: run under srun, one task per process, each "
                    "runs the runner itself (mmengine's slurm launcher; --gpus and --nodes are srun's)")


def build_parser() -> argparse.ArgumentParser:
    from tspsis.lab.profiles import PROFILES

    parser = argparse.ArgumentParser(prog="tspsis", description=__doc__, formatter_class=RawHelpFormatter)
    add_option(parser, "--debug", action="store_true", help="show tracebacks, not one-line errors "
                                                            "(also TSPSIS_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="what to do; tspsis COMMAND --help describes each")

    add_command(sub, "doctor", "check the environment (torch, mmcv ops, mmdet, kernels)",
                "Check that this environment can run tspsis (torch, mmcv's compiled ops, mmdet, the kernels): one "
                "line per component, a fix for each failure.").set_defaults(func=_doctor)

    data = add_command(sub, "data", "synthetic benchmark and dataset statistics",
                       "Generate the synthetic overlap benchmark, or print a dataset's statistics.")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND",
                                   help="synth or stats; tspsis data DATA_COMMAND --help describes each")
    synth = add_command(data_sub, "synth", "generate the synthetic overlap benchmark (COCO format)",
                        "Write DIR/annotations/{train,val}.json and DIR/{train,val}/*.png for a profile; skipped "
                        "when DIR already holds them for the same profile and seed.")
    add_option(synth, "--profile", choices=["tiny", "demo", "full"], default="demo", help="size of the benchmark")
    add_option(synth, "--out-dir", old="--out", type=Path, required=True, metavar="DIR", help="the data folder")
    add_option(synth, "--data-seed", old="--seed", type=int, default=0, help=DATA_SEED_HELP)
    synth.set_defaults(func=_synth)
    stats = add_command(data_sub, "stats", "images, instances, area buckets, overlap O, split coverage",
                        "Print a COCO file's statistics: images, instances, area buckets, overlap O and, with a "
                        "split manifest, the seen / unseen coverage.")
    add_option(stats, "ann", type=Path, help="COCO-format annotation file")
    add_option(stats, "--manifest", type=Path, help="a split's manifest (from tspsis split): adds its coverage")
    add_option(stats, "--json", action="store_true", help="print the raw statistics as JSON")
    stats.set_defaults(func=_stats)

    split = add_command(sub, "split", "write a partially supervised training file (unseen = box-only)",
                        "Write a partially supervised training file: the unseen categories' instances keep their "
                        "boxes and lose their masks; a manifest beside it names the seen and unseen categories.")
    add_option(split, "--ann", type=Path, required=True, help="the full COCO-format training file")
    add_option(split, "--seen", required=True, help="voc | nonvoc | first-K | disjoint-appearance | disjoint-shape "
                                                    "| disjoint-both | comma-separated category names")
    add_option(split, "--out", type=Path, required=True, metavar="FILE",
               help="the training file to write (and FILE's stem + .manifest.json)")
    split.set_defaults(func=_split)

    ev = add_command(sub, "eval", "COCO AP on unseen / seen / all categories, per overlap bin",
                     "Score detections against a ground truth: COCO AP on the unseen, seen and all categories of "
                     "a split, and per overlap bin.")
    add_option(ev, "--gt", type=Path, required=True, help="ground-truth COCO file")
    add_option(ev, "--dt", type=Path, required=True, help="detections, a COCO results file")
    add_option(ev, "--manifest", type=Path, required=True, help="the split's manifest (seen / unseen categories)")
    add_option(ev, "--out", type=Path, metavar="FILE", help="also write the metrics to this JSON file")
    add_option(ev, "--backend", choices=["pycocotools", "faster_coco_eval"], default="pycocotools",
               help="the COCO evaluation library")
    ev.set_defaults(func=_eval)

    for name, func, summary, description in (
            ("train", _train, "train a config in a subprocess (resumable)",
             "Train a config (a leaf and its mixins) in a subprocess, or torchrun; a kill resumes from the newest "
             "checkpoint, a finished run is skipped."),
            ("test", _test, "test a checkpoint; write unseen/seen/all metrics JSON",
             "Test a checkpoint with a config and write the unseen / seen / all metrics to "
             "DIR/test-NAME.metrics.json.")):
        cmd = add_command(sub, name, summary, description)
        add_option(cmd, "config", type=Path, help="the leaf config file")
        if name == "test":
            add_option(cmd, "checkpoint", type=Path, help="the weights to test (.pth)")
        _add_run_options(cmd, name)
        if name == "test":
            add_option(cmd, "--name", help="results go to DIR/test-NAME.metrics.json (unset: the checkpoint's stem "
                                           "and the options); metrics.json is never touched")
        if name == "train":
            add_option(cmd, "--train-seed", old="--seed", type=int,
                       help="training seed, randomness.seed (unset: the config's, else 0)")
            add_option(cmd, "--resume", action=argparse.BooleanOptionalAction, default=True,
                       help="resume from the newest complete checkpoint in the output folder")
            add_option(cmd, "--load-from", type=Path, metavar="WEIGHTS",
                       help="start a new run from these weights (fine-tuning; shape mismatches are listed); a run "
                            "with checkpoints of its own resumes from them")
            add_option(cmd, "--force", action="store_true", help="train even if the run is complete")
            add_option(cmd, "--max-iters", type=int, help="rescale an iteration-based schedule to N iterations")
        cmd.set_defaults(func=func)

    pr = add_command(sub, "predict", "masks for images: the model's detections, or given boxes (--boxes)",
                     "Predict instance masks for images: the model's own detections, or the masks of boxes given "
                     "with --boxes (the box-conditioned track); see tspsis.cli.predict.")
    add_option(pr, "config", type=Path, help="the leaf config file")
    add_option(pr, "checkpoint", type=Path, help="the model's weights (.pth)")
    add_option(pr, "inputs", nargs="+", type=Path, metavar="INPUT", help="images and/or folders of images")
    add_option(pr, "--out-dir", type=Path, required=True, metavar="DIR",
               help="the output folder: preds/*.json, vis/*.png, results.segm.json")
    add_option(pr, "--mixin", type=Path, action="append", default=[], metavar="FILE", help=MIXIN_HELP)
    add_option(pr, "--score-thr", type=float, help="keep scores >= T in preds/vis (unset: 0.3; 0 with --boxes)")
    add_option(pr, "--boxes", type=Path, help="COCO file (matched by file_name), per-image JSON or folder of them")
    add_option(pr, "--device", help="a device string, not a count (hence not --gpus): cpu, cuda:0, ... (unset: "
                                    "CUDA if available)")
    add_option(pr, "--data-root", type=Path, help=DATA_ROOT_HELP + " (class names / category ids)")
    pr.set_defaults(func=_predict)

    pre = add_command(sub, "pretrain", "the profile's shared pre-training, cached under DATA_ROOT/pretrained/",
                      "Train the profile's shared pre-training: box classification of every category (boxes and "
                      "labels, no mask), cached under DATA_ROOT/pretrained/; every trained row of the profile "
                      "starts from it. The data is made first if missing.")
    add_option(pre, "--profile", choices=[n for n, p in PROFILES.items() if p.schedule.pretrain_iters],
               default="demo", help="the profile (tspsis.lab.PROFILES) whose pre-training to run")
    add_option(pre, "--data-root", type=Path, help="data folder (unset: data/synth/<profile>; made if missing)")
    add_option(pre, "--data-seed", old="--seed", type=int, default=0, help=DATA_SEED_HELP + ", if the data is made")
    add_option(pre, "--gpus", type=int, help=GPUS_HELP)
    pre.set_defaults(func=_pretrain)

    nb = add_command(sub, "run-notebooks", "execute notebooks/ in order with papermill",
                     "Execute notebooks/ in order with papermill for a profile: the data, the trainings (cached in "
                     "the work dir) and the tables and figures, into the output folder.")
    add_option(nb, "--profile", choices=PROFILES, default="demo", help="how much of the paper to run "
                                                                       "(tspsis.lab.PROFILES)")
    add_option(nb, "--only", help="comma-separated notebook number prefixes, e.g. 00,03 (unset: every notebook)")
    add_option(nb, "--out-dir", old="--out", type=Path, metavar="DIR",
               help="output folder (unset: papermill_runs/<date>-<profile>)")
    add_option(nb, "--gpus", type=int, help=GPUS_HELP + PER_NODE)
    add_option(nb, "--nodes", type=int, default=1, help=NODES_HELP + "; each node's rank and node 0's address from "
                                                    "$NODE_RANK, $MASTER_ADDR ($MASTER_PORT, else 29500)")
    add_option(nb, "--data-seed", old="--seed", type=int, default=0, help=DATA_SEED_HELP)
    add_option(nb, "--train-seed", type=_seeds, metavar="N[,M,...]",
               help="training seed(s) (unset: the profile's, PROFILES[profile].schedule.train_seeds); several: each "
                    "run once per seed, tables show mean ± std (n)")
    add_option(nb, "--force", action="store_true",
               help="re-execute notebooks already complete in the output folder (cached training runs are reused: "
                    "their key covers config, model code and data)")
    add_option(nb, "--data-root", type=Path, help="data folder (unset: data/synth/<profile> or data/coco)")
    add_option(nb, "--work-dir", type=Path, help="experiment cache, the trained runs (unset: work_dirs/<profile>, "
                                                 "or the one of the profile whose data it shares: demo-all, "
                                                 "coverage and the demo-detector profiles use the demo's)")
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
