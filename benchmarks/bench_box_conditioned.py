"""Cost of one training iteration per method, fp32 beside the fast path, against the machine's limit: seconds,
images/s, GFLOP/s and the fraction of the matching GEMM peak (box-conditioned track by default; any profile/track).

One process, one fixed batch of images. Each method's step is mmengine's own training step (``model.train_step``:
the optim wrapper's ``optim_context`` around preprocessing + forward + loss, then ``update_params``), with the
optim wrapper built from the method's config twice, each on its own copy of the same initial model:

* fast: the config's wrapper; the CPU sizing's ``CPUBF16OptimWrapper`` with ``enabled=True`` (bf16 autocast,
  channels-last), the GPU sizing's ``AmpOptimWrapper`` (fp16 autocast, loss scaling);
* fp32: the same with ``enabled=False``, or a plain ``OptimWrapper`` with the config's optimizer and clipping.

All (method, precision) pairs are timed in interleaved rounds (machine load drifts hit all of them alike); medians,
and ratios within this run. FLOPs are counted once per method with ``torch.utils.flop_counter`` (forward +
backward of one batch, fp32). The peaks are the best of square matrix products (1024 on a CPU, 8192 on a GPU) in
fp32 and in the fast path's dtype on the same threads / device, timed in every round. Data loading is excluded: the track caches
decoded images (``CachedTransforms``), so a step is the network's cost. Runs on the GPU when one is visible.

    python benchmarks/bench_box_conditioned.py [--data-root data/synth/demo] [--rounds 5] [--batch 16]
        [--threads 2] [--methods M ...] [--profile demo] [--track box_conditioned] [--out bench.json]
        [--variant NAME KEY=VALUE ...]   # every method again with these options, rows "METHOD [NAME]"

Seconds per model = iterations of the demo schedule x seconds per iteration + the test pass (reported by each
run as ``run.wall_seconds_this_process`` in its metrics.json).
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmdet.registry import DATASETS, MODELS
from mmdet.utils import register_all_modules
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

import tspsis.plugin  # noqa: F401  (registers the plugin)
from tspsis import lab as experiments
from tspsis.engine.config import load_config

METHODS = ("Mask R-CNN", "Mask R-CNN + ours", "ts: CRF", "ts: interact", "ts: deeper teacher",
           "ts: high-res teacher", "Oracle", "MaskX R-CNN", "CPMask", "OPMask", "OPMask + ours")
PRECISIONS = ("fp32", "fast")
_AMP_ONLY_KEYS = ("loss_scale", "dtype", "use_fsdp")  # AmpOptimWrapper's arguments that OptimWrapper lacks


def wrapper_configs(optim_wrapper: dict) -> tuple[dict[str, dict], torch.dtype]:
    """{'fp32': cfg, 'fast': cfg} optim wrappers from a config's ``optim_wrapper``, and the fast path's dtype."""
    own = dict(optim_wrapper)
    if own["type"] == "CPUBF16OptimWrapper":
        return dict(fp32=dict(own, enabled=False), fast=dict(own, enabled=True)), torch.bfloat16
    plain = {k: v for k, v in own.items() if k not in _AMP_ONLY_KEYS} | dict(type="OptimWrapper")
    if own["type"] == "AmpOptimWrapper":
        return dict(fp32=plain, fast=own), getattr(torch, own.get("dtype") or "float16")
    return dict(fp32=plain, fast=plain), torch.float32  # no fast path configured: both are fp32


def gemm_gflops(dtype: torch.dtype, device: str, repeats: int = 5) -> float:
    """Best GFLOP/s of ``repeats`` square matrix products in ``dtype`` (1024 on a CPU, 8192 on a GPU)."""
    size = 8192 if device == "cuda" else 1024
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    a @ b
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def prepare(profile: str, data_root: Path) -> dict:
    """The splits the configs train on (DATA_ROOT/annotations/train_<spec>.json), written as the lab writes them
    (``tspsis.lab.prepare_splits``) where missing: a folder from ``tspsis data synth --out-dir DIR`` alone holds only
    the full annotation files."""
    return experiments.prepare_splits(profile, data_root)


def _build(method: str, args: argparse.Namespace, device: str, cfg_options: list[str]):
    """The method's batch, per precision (model, optim wrapper) from its config with ``cfg_options`` (same initial
    weights), and the fast path's dtype."""
    spec = experiments.config(method, "voc2nonvoc", args.profile, track=args.track)
    cfg = load_config(str(spec.leaf), tempfile.mkdtemp(), cfg_options, str(args.data_root),
                      mixins=[str(m) for m in spec.mixins])
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    items = [dataset[i] for i in range(args.batch)]
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device).train()
    wrappers, fast_dtype = wrapper_configs(cfg.optim_wrapper)
    steps = {}
    for precision, wrapper in wrappers.items():
        copy_ = copy.deepcopy(model)
        steps[precision] = (copy_, build_optim_wrapper(copy_, wrapper))
    return items, steps, fast_dtype


def _step(items, model, optim_wrapper) -> None:
    """One training iteration exactly as mmengine's IterBasedTrainLoop runs it (minus data loading)."""
    model.train_step(pseudo_collate(items), optim_wrapper)


def _flops(items, model, optim_wrapper) -> float:
    with FlopCounterMode(display=False) as counter:
        _step(items, model, optim_wrapper)
    return float(counter.get_total_flops())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=Path("data/synth/demo"),
                    help="the data (tspsis data synth --out-dir DIR); its missing splits are written first")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    ap.add_argument("--batch", type=int, default=16, help="images per training step")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), help="row labels of tspsis.lab.METHODS")
    ap.add_argument("--profile", default="demo", help="experiments profile of the configs")
    ap.add_argument("--track", default="box_conditioned", help="box_conditioned or detector")
    ap.add_argument("--out", type=Path, metavar="FILE", help="also write the results to this JSON file")
    ap.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "KEY=VALUE"),
                    help="also time every method with these cfg-options (e.g. another RoI budget), in the same "
                         "rounds; its rows are 'METHOD [NAME]'")
    args = ap.parse_args(argv)
    if any(len(variant) < 2 for variant in args.variant):
        ap.error("--variant NAME KEY=VALUE [KEY=VALUE ...]: a name and at least one option")
    variants = {None: [], **{name: options for name, *options in args.variant}}
    rows_of = {(f"{m} [{name}]" if name else m): (m, options) for name, options in variants.items()
               for m in args.methods}
    try:
        prepare(args.profile, args.data_root)
    except FileNotFoundError as err:  # no data there: one line, not a traceback
        ap.error(str(err))
    torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    built = {row: _build(m, args, device, options) for row, (m, options) in tqdm(rows_of.items(), desc="build")}
    fast_dtype = {dtype for _, _, dtype in built.values()}
    if len(fast_dtype) != 1:
        raise ValueError(f"the methods' fast paths differ in dtype ({fast_dtype}): benchmark them separately")
    fast_dtype = fast_dtype.pop()
    flops = {m: _flops(items, *steps["fp32"]) for m, (items, steps, _) in built.items()}
    for items, steps, _ in built.values():  # warm-up (first-call allocations, oneDNN primitive caches)
        for step in steps.values():
            _step(items, *step)
    times = {(row, p): [] for row in rows_of for p in PRECISIONS}
    peaks = dict(fp32=0.0, fast=0.0)  # the best over the rounds: the machine's limit, whatever the load
    for _ in tqdm(range(args.rounds), desc="rounds"):
        peaks = dict(fp32=max(peaks["fp32"], gemm_gflops(torch.float32, device)),
                     fast=max(peaks["fast"], gemm_gflops(fast_dtype, device)))
        for (method, precision), samples in times.items():
            items, steps, _ = built[method]
            _sync(device)
            start = time.perf_counter()
            _step(items, *steps[precision])
            _sync(device)
            samples.append(time.perf_counter() - start)

    where = torch.cuda.get_device_name(0) if device == "cuda" else f"{_cpu_name()}, {args.threads} thread(s)"
    dtype_name = str(fast_dtype).removeprefix("torch.")
    print(f"{where}; batch {args.batch}, median of {args.rounds} interleaved rounds; GEMM peak: fp32 "
          f"{peaks['fp32']:.1f} GFLOP/s, {dtype_name} {peaks['fast']:.1f} GFLOP/s (fast = {dtype_name})")
    width = max(20, *map(len, rows_of))
    print(f"{'method':<{width}} {'GFLOP/img':>9} | {'fp32 s/it':>9} {'img/s':>6} {'GFLOP/s':>7} {'%peak':>5} | "
          f"{'fast s/it':>9} {'img/s':>6} {'GFLOP/s':>7} {'%peak':>5} | {'fast/fp32':>9} {'x base':>6}")
    baseline = statistics.median(times[args.methods[0], "fp32"])
    rows = {}
    for method in rows_of:
        row = dict(gflop_per_image=flops[method] / args.batch / 1e9)
        for precision in PRECISIONS:
            seconds = statistics.median(times[method, precision])
            gflop_per_s = flops[method] / seconds / 1e9
            row[precision] = dict(seconds_per_iter=seconds, images_per_s=args.batch / seconds,
                                  gflop_per_s=gflop_per_s, fraction_of_peak=gflop_per_s / peaks[precision])
        row["fast_over_fp32"] = row["fast"]["images_per_s"] / row["fp32"]["images_per_s"]
        row["fp32_over_baseline"] = row["fp32"]["seconds_per_iter"] / baseline
        rows[method] = row
        cells = " | ".join(f"{r['seconds_per_iter']:9.3f} {r['images_per_s']:6.1f} {r['gflop_per_s']:7.1f} "
                           f"{100 * r['fraction_of_peak']:4.0f}%" for r in (row["fp32"], row["fast"]))
        print(f"{method:<{width}} {row['gflop_per_image']:9.3f} | {cells} | {row['fast_over_fp32']:8.2f}x "
              f"{row['fp32_over_baseline']:6.2f}")
    if args.out:
        args.out.write_text(json.dumps(dict(
            device=where, torch=torch.__version__, profile=args.profile, track=args.track, batch=args.batch,
            threads=args.threads, rounds=args.rounds, fast_dtype=dtype_name,
            variants={name: options for name, options in variants.items() if name},
            gemm_gflop_per_s=dict(fp32=peaks["fp32"], fast=peaks["fast"]), methods=rows), indent=1))
    return 0


def _cpu_name() -> str:
    """The processor's model name from /proc/cpuinfo ('' where there is none)."""
    try:
        return next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), "")
    except OSError:
        return ""


if __name__ == "__main__":
    raise SystemExit(main())
