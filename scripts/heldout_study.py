"""Choose schedules and options on held-out data: train rows of a profile on another generator seed's data.

Every (method, iterations, training seed) of the product is one cached run of ``tspsis.lab`` (the profile's
track, sizing and shared pre-training), trained two at a time with one thread each, then tested on the held-out
data's own val images (never the reported ones). Prints one markdown row per run and mean ± std over the seeds.

    python scripts/heldout_study.py --methods "Mask R-CNN" Oracle --iters 250 500 1000 --train-seed 0 1 2
    python scripts/heldout_study.py --methods "Mask R-CNN + ours" --iters 500 --teacher   # + its teacher's test
    python scripts/heldout_study.py --profile demo-detector --methods "Mask R-CNN + ours" --iters 600 --teacher \
        --given-boxes      # detector track: + each checkpoint's (and its teacher's) masks on the ground-truth boxes
    python scripts/heldout_study.py --methods Oracle --iters 500 --cfg-options optim_wrapper.enabled=False
    python scripts/heldout_study.py --methods Oracle --iters 500 --mixin _base_/class_specific/logits-lr.py
    python scripts/heldout_study.py --out docs/heldout_rows.jsonl --plot docs/heldout_schedule.png  # draw only
    python scripts/heldout_study.py --methods "Mask R-CNN + ours" --seen voc disjoint-appearance   # coverage splits
    python scripts/heldout_study.py --methods "Mask R-CNN" --init-from CKPT   # from other weights (another track's)

Held-out data: ``tspsis data synth --profile demo --out-dir data/synth/demo-s1 --data-seed 1`` (made here if missing).
"""
from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tspsis import lab, viz
from tspsis.cli.options import add_option
from tspsis.core.paths import REPO_ROOT
from tspsis.core.stats import over_seeds

TEACHER = "model.roi_head.test_mask_head=teacher"  # the same checkpoint, its teacher Ft predicting


def _record(metrics: dict) -> dict:
    """The row's numbers; ``teacher_fg_ratio``: the teacher's foreground ratio its training ended with
    (``tspsis.plugin.hooks.teacher_coverage.TeacherCoverageHook``), ``pseudo_mask_iou``: the pseudo masks' IoU with
    the unseen ground truth at the end of training (``tspsis.plugin.hooks.pseudo_mask_monitor``); None for a head
    without a teacher."""
    segm = metrics["segm"]
    training = metrics.get("training") or {}
    ratio = training.get("teacher_fg_ratio") or {}
    iou = segm.get("mask_iou")  # the box-conditioned track's (scores of given boxes); the detector track has none
    return {"unseen AP": segm["unseen"]["AP"], "seen AP": segm["seen"]["AP"],
            "unseen mIoU": iou and iou["unseen"]["mIoU"], "teacher_fg_ratio": ratio.get("mean"),
            "pseudo_mask_iou": (training.get("pseudo_mask_iou") or {}).get("mean"),
            "unseen box AP": metrics["bbox"]["unseen"]["AP"], "seconds": metrics["run"].get("wall_seconds_total")}


def _given_boxes_record(experiment: lab.Experiment, teacher: bool = False) -> dict:
    """A detector-track run's (or its teacher's) masks on the held-out val images' ground-truth boxes."""
    segm = experiment.test([TEACHER] if teacher else [], "given-boxes-teacher" if teacher else "given-boxes",
                           given_boxes=True).metrics["segm"]
    return {"given-box unseen AP": segm["unseen"]["AP"], "given-box unseen mIoU": segm["mask_iou"]["unseen"]["mIoU"],
            "given-box seen AP": segm["seen"]["AP"]}


def _folder(experiment: lab.Experiment) -> str:
    """A run's folder as the rows record it: relative to the repository when inside it."""
    return os.path.relpath(experiment.work_dir, REPO_ROOT) if experiment.work_dir.is_relative_to(REPO_ROOT) \
        else str(experiment.work_dir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--data-root", type=Path, default=Path("data/synth/demo-s1"))
    ap.add_argument("--data-seed", type=int, default=1, help="generator seed of the held-out data (not 0)")
    ap.add_argument("--work-dir", type=Path, default=Path("work_dirs/heldout"))
    ap.add_argument("--methods", nargs="+", default=[], help="none: only --plot the rows of --out")
    ap.add_argument("--direction", default="voc2nonvoc")
    ap.add_argument("--iters", nargs="+", type=int, default=[500])
    add_option(ap, "--train-seed", old="--seeds", nargs="+", type=int, default=[0], help="training seeds")
    ap.add_argument("--seen", nargs="+", default=[None], help="seen specs to train and score on (default: the "
                                                               "direction's own), e.g. voc disjoint-appearance")
    ap.add_argument("--cfg-options", nargs="+", default=[])
    ap.add_argument("--mixin", action="append", default=[], help="config file (under configs/) merged over each row")
    ap.add_argument("--teacher", action="store_true", help="also test teacher-student runs with their teacher")
    ap.add_argument("--given-boxes", action="store_true", help="detector track: also test each run (and, with "
                                                               "--teacher, its teacher) on the ground-truth boxes")
    ap.add_argument("--init-from", type=Path, metavar="CHECKPOINT", help="start every row from these weights instead "
                                                                         "of the profile's shared pre-training")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--out", type=Path, help="append the rows (JSON lines) to this file")
    ap.add_argument("--plot", type=Path, help="draw unseen AP and mIoU against iterations (every row of --out) here")
    args = ap.parse_args(argv)
    if args.data_seed == 0:
        ap.error("--data-seed 0 is the data the tables report: choose on another seed")

    if not args.methods:
        if not (args.plot and args.out):
            ap.error("give --methods to train, or --plot and --out to draw the rows already measured")
        _plot([json.loads(line) for line in args.out.read_text().splitlines()], args.plot)
        return 0
    data = lab.prepare_data(args.profile, args.data_root, seed=args.data_seed)
    plan = [(m, n, s, seen) for m in args.methods for n in args.iters for s in args.train_seed for seen in args.seen]
    runs = [lab.resolve(m, args.direction, profile=args.profile, data_root=data["root"], work_dir=args.work_dir,
                        max_iters=n, seed=s, seen=seen, cfg_options=args.cfg_options, mixins=args.mixin,
                        init_from=args.init_from)
            for m, n, s, seen in plan]
    os.environ["OMP_NUM_THREADS"] = "1"  # launch passes it on: one thread per run, `parallel` runs at once
    if runs and runs[0].pretrained is not None:
        runs[0].pretrained.train()
    with ThreadPoolExecutor(args.parallel) as pool:
        records = [_record(r.metrics) for r in pool.map(lab.Experiment.train, runs)]
    options = [*args.cfg_options, *(f"mixin {m}" for m in args.mixin),
               *([f"init from {os.path.relpath(args.init_from.resolve(), REPO_ROOT)}"] if args.init_from else [])]
    given = (lambda r, teacher=False: _given_boxes_record(r, teacher)) if args.given_boxes else lambda *_: {}
    rows = [dict(method=m, direction=args.direction, iters=n, seed=s, seen=seen, options=options, **rec,
                 **given(r), run=_folder(r))
            for (m, n, s, seen), rec, r in zip(plan, records, runs)]
    if args.teacher:
        rows += [dict(method=f"{m}: its teacher", direction=args.direction, iters=n, seed=s, seen=seen,
                      options=options, **_record(r.test([TEACHER], "teacher").metrics), **given(r, True), run=_folder(r))
                 for (m, n, s, seen), r in zip(plan, runs) if "ours" in m or m.startswith("ts:")]
    print(f"held-out data {data['root']} ({args.direction}), options {options or 'none'}")
    measures = ["unseen AP", "seen AP", "unseen mIoU", "teacher_fg_ratio", "pseudo_mask_iou", "unseen box AP",
                "seconds", *(["given-box unseen AP", "given-box unseen mIoU"] if args.given_boxes else [])]
    print("| run | seen | iterations | seeds | " + " | ".join(measures) + " |\n" + "|---" * (len(measures) + 4) + "|")
    for method in dict.fromkeys(r["method"] for r in rows):
        for seen in args.seen:
            for iters in args.iters:
                group = [r for r in rows if r["method"] == method and r["iters"] == iters and r["seen"] == seen]
                stat = over_seeds([{k: r[k] for k in measures} for r in group], [r["seed"] for r in group])
                print(f"| {method} | {seen or args.direction[:args.direction.index('2')]} | {iters} | "
                      f"{','.join(str(r['seed']) for r in group)} | "
                      + " | ".join("—" if stat[k] is None else str(stat[k]) for k in measures) + " |")
    if args.out:
        with args.out.open("a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    if args.plot:
        every = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out else rows
        _plot(every, args.plot)
    return 0


def _label(row: dict) -> str:
    options = ", ".join(o.rsplit("/", 1)[-1].removesuffix(".py") for o in row["options"])
    return f"{row['method']} ({options})" if options else row["method"]


def _plot(rows: list[dict], path: Path) -> None:
    """Unseen AP and mIoU against the schedule length, mean ± std over the seeds, one line per (method, options)
    with more than one length."""
    groups: dict[str, dict[int, list[dict]]] = {}
    for row in rows:
        groups.setdefault(_label(row), {}).setdefault(row["iters"], []).append(row)
    groups = {label: by_iters for label, by_iters in groups.items() if len(by_iters) > 1}
    iters = sorted({n for by_iters in groups.values() for n in by_iters})
    panels = {f"{measure} (%), held-out val": {
        label: [over_seeds([r[measure] for r in by_iters[n]], [r["seed"] for r in by_iters[n]])
                if n in by_iters else None for n in iters] for label, by_iters in groups.items()}
        for measure in ("unseen AP", "unseen mIoU")}
    viz.plot_curves(iters, panels, "training iterations (16 images each)").savefig(path, dpi=120)

if __name__ == "__main__":
    raise SystemExit(main())
