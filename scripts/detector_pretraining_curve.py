"""Choose the length of the detector track's shared pre-training on held-out data: its box AP against iterations.

Trains the shared pre-trained detector of a profile (``tspsis.lab.registry.PRETRAINING`` in the detector track: RPN +
box head on every category's boxes, no masks) for each length of ``--iters`` on another generator seed's data, keeps
every checkpoint (a sixth of the run apart, as every schedule here), tests each on the held-out data's own val
images and prints / appends one row per checkpoint: box AP on all, seen and unseen categories. The lengths train two
at a time with one thread each, from the weights the profile's pre-training starts from (``demo-detector``: the box
track's box-classification pre-training, ``Schedule.detector_init_iters``; ``--from-scratch``: random weights).

    python scripts/detector_pretraining_curve.py --iters 900 1800 --out docs/detector_pretraining_rows.jsonl \
        --plot docs/detector_pretraining.png

Held-out data: ``tspsis data synth --profile demo --out data/synth/demo-s1 --seed 1`` (made here if missing).
"""
from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tspsis import lab, viz
from tspsis.engine.launch import test
from tspsis.engine.work_dir import completed_run, metrics_file_of_test
from tspsis.lab.registry import _PRETRAIN_DIRECTION, PRETRAINING

RECORDS = ("all", "seen", "unseen")


def _checkpoint_rows(experiment: lab.Experiment) -> list[dict]:
    """Box AP of every checkpoint of a finished pre-training (each tested once, then read back)."""
    run = experiment.train()
    rows = []
    for checkpoint in sorted(run.work_dir.glob("iter_*.pth"), key=lambda p: int(p.stem.split("_")[1])):
        name = checkpoint.stem
        tested = completed_run(run.work_dir, metrics_file_of_test(name)) or test(
            experiment.request.test_of(), checkpoint, run.work_dir, gpus=0, name=name)
        box = tested.metrics["bbox"]
        rows.append(dict(schedule=experiment.max_iters, iters=int(name.split("_")[1]),
                         **{f"{record} box AP": box[record]["AP"] for record in RECORDS}))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--profile", default="demo-detector", help="a profile with a detector-track pre-training")
    ap.add_argument("--data-root", type=Path, default=Path("data/synth/demo-s1"), help="the held-out data")
    ap.add_argument("--data-seed", type=int, default=1, help="generator seed of the held-out data (not 0)")
    ap.add_argument("--work-dir", type=Path, default=Path("work_dirs/heldout-pretraining"),
                    help="where the pre-trainings of this study are cached")
    ap.add_argument("--iters", nargs="*", type=int, default=[900, 1800], help="pre-training lengths (none: only --plot)")
    ap.add_argument("--cfg-options", nargs="+", default=[], help="overrides of the pre-training config")
    ap.add_argument("--from-scratch", action="store_true", help="start from random weights even where the profile "
                                                                "starts from the box track's pre-training")
    ap.add_argument("--out", type=Path, help="append the rows (JSON lines) to this file")
    ap.add_argument("--plot", type=Path, help="draw box AP against iterations (every row of --out) here")
    args = ap.parse_args(argv)
    if args.data_seed == 0:
        ap.error("--data-seed 0 is the data the tables report: choose on another seed")
    rows = []
    if args.iters:
        data = lab.prepare_data(args.profile, args.data_root, seed=args.data_seed)
        # the profile's start (Schedule.detector_init_iters: the box track's pre-training, trained first), if any
        start = None if args.from_scratch else lab.pretraining(args.profile, data["root"], track="detector").pretrained
        runs = [lab.resolve(PRETRAINING.label, _PRETRAIN_DIRECTION, profile=args.profile, data_root=data["root"],
                            work_dir=args.work_dir, max_iters=n, track="detector", init_from=start,
                            cfg_options=["default_hooks.checkpoint.max_keep_ckpts=-1", *args.cfg_options])
                for n in args.iters]
        if start is not None:
            start.train()
        options = [*args.cfg_options, *([f"from the box track's {start.max_iters}-iteration pre-training"]
                                        if start is not None else [])]
        os.environ["OMP_NUM_THREADS"] = "1"  # launch passes it on: one thread per run, two runs at once
        with ThreadPoolExecutor(2) as pool:
            rows = [dict(row, options=options) for rows_of_run in pool.map(_checkpoint_rows, runs)
                    for row in rows_of_run]
        print(f"held-out data {data['root']}: box AP (%) of the shared pre-trained detector on its val images")
        print("| schedule | iterations | " + " | ".join(f"{r} box AP" for r in RECORDS) + " |\n|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['schedule']} | {row['iters']} | "
                  + " | ".join(f"{row[f'{r} box AP']:.1f}" for r in RECORDS) + " |")
    if args.out and rows:
        with args.out.open("a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    if args.plot:
        every = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out else rows
        def label(row: dict) -> str:  # an option by the last two parts of its key: short enough for a legend
            options = " ".join(".".join(o.lstrip("+").split("=", 1)[0].split(".")[-2:]) + "=" + o.split("=", 1)[1]
                               if "=" in o else o for o in row.get("options") or [])
            return f"schedule of {row['schedule']} iterations" + (f", {options}" if options else "")
        labels = list(dict.fromkeys(label(r) for r in every))
        iters = sorted({r["iters"] for r in every})
        by = {(label(r), r["iters"]): r for r in every}
        panels = {f"{record} box AP (%), held-out val": {
            curve: [by[curve, n][f"{record} box AP"] if (curve, n) in by else None for n in iters]
            for curve in labels} for record in RECORDS}
        viz.plot_curves(iters, panels, "pre-training iterations (16 images each)").savefig(args.plot, dpi=120,
                                                                                          bbox_inches="tight")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
