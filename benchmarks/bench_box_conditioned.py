"""Cost of one training iteration of the box-conditioned track, per method: seconds, images/s, GFLOP/s.

One process, one fixed batch of demo images, every method timed in interleaved rounds (machine load drifts hit
all of them alike); medians, and ratios to the class-agnostic baseline of the same run. FLOPs are counted once
per method with ``torch.utils.flop_counter`` (forward + backward of one batch). Data loading is excluded: the
track caches decoded images (``CachedTransforms``), so a step is the network's cost.

    python benchmarks/bench_box_conditioned.py [--data-root data/synth/demo] [--rounds 5] [--batch 16]
        [--threads 2] [--out bench.json]

Seconds per model = iterations of the demo schedule x seconds per iteration + the test pass (reported by each
run as ``run.wall_seconds_this_process`` in its metrics.json).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from mmengine.dataset import pseudo_collate
from mmdet.registry import DATASETS, MODELS
from mmdet.utils import register_all_modules
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

import tspsis.models  # noqa: F401  (registers the plugin)
from tspsis import experiments
from tspsis.runner import load_config

METHODS = ("Mask R-CNN", "Mask R-CNN + ours", "ts: CRF", "ts: interact", "ts: deeper teacher",
           "ts: high-res teacher", "Oracle", "MaskX R-CNN", "CPMask", "OPMask", "OPMask + ours")


def _build(method: str, data_root: Path, batch: int):
    spec = experiments.config(method, "voc2nonvoc", "demo", track="box_conditioned")
    cfg = load_config(str(spec.leaf), tempfile.mkdtemp(), [], str(data_root), mixins=[str(m) for m in spec.mixins])
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    items = [dataset[i] for i in range(batch)]
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    return model, items, torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)


def _step(model, items, optimizer) -> None:
    batch = model.data_preprocessor(pseudo_collate(items), True)
    losses = model(**batch, mode="loss")
    loss = sum(v for k, v in losses.items() if "loss" in k)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _flops(model, items, optimizer) -> float:
    with FlopCounterMode(display=False) as counter:
        _step(model, items, optimizer)
    return float(counter.get_total_flops())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=Path("data/synth/demo"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=True)

    built = {m: _build(m, args.data_root, args.batch) for m in tqdm(args.methods, desc="build")}
    flops = {m: _flops(*built[m]) for m in args.methods}  # also warms every model up
    times: dict[str, list[float]] = {m: [] for m in args.methods}
    for _ in tqdm(range(args.rounds), desc="rounds"):
        for method in args.methods:
            start = time.perf_counter()
            _step(*built[method])
            times[method].append(time.perf_counter() - start)

    baseline = statistics.median(times[args.methods[0]])
    rows = {}
    print(f"{'method':<24} {'s/iter':>7} {'x base':>7} {'img/s':>7} {'GFLOP/img':>10} {'GFLOP/s':>8}")
    for method in args.methods:
        seconds = statistics.median(times[method])
        rows[method] = dict(seconds_per_iter=seconds, ratio=seconds / baseline, images_per_s=args.batch / seconds,
                            gflop_per_image=flops[method] / args.batch / 1e9, gflop_per_s=flops[method] / seconds / 1e9)
        r = rows[method]
        print(f"{method:<24} {seconds:7.3f} {r['ratio']:7.2f} {r['images_per_s']:7.1f} {r['gflop_per_image']:10.3f} "
              f"{r['gflop_per_s']:8.1f}")
    if args.out:
        args.out.write_text(json.dumps(dict(batch=args.batch, threads=args.threads, rounds=args.rounds,
                                            methods=rows), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
