"""Training and inference cost of the teacher-student head against the partially supervised baseline.

One process, one fixed batch of synthetic images, every variant timed in interleaved rounds (so machine load
drifts hit all variants alike); printed as medians and as ratios to the baseline of the same run.

    python benchmarks/bench_train.py [--data-root data/synth/demo] [--rounds 10] [--batch 4] [--out bench.json]

Variants (synthetic CPU configs, voc->nonvoc): baseline (psis, class-agnostic), teacher-student with
r = threshold, interact, CRF on CPU (pydensecrf) and CRF in torch (batched exact mean field). Inference:
baseline vs the student. Uses CUDA when visible (then also times AMP if the config asks for it).
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
from tqdm import tqdm

import tspsis.plugin  # noqa: F401  (registers the plugin)
from tspsis.core.synth import generate
from tspsis.engine.config import load_config
from tspsis.core.splits import write_split

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
BASELINE = "mask_rcnn/psis-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"
TS = "mask_rcnn_ts/ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"
VARIANT = "_base_/ts_variants/{}.py".format  # mixins merged over TS
VARIANTS = {  # name: (config, mixins, cfg_options)
    "baseline": (BASELINE, [], []),
    "ts threshold": (TS, [], []),
    "ts interact": (TS, [VARIANT("interact")], []),
    "ts crf-cpu (pydensecrf)": (TS, [VARIANT("crf")],
                                ["model.roi_head.pseudo_labeler.post_process.crf_backend=pydensecrf"]),
    "ts crf-torch": (TS, [VARIANT("crf")], []),
}


def _data_root(requested: Path | None) -> Path:
    if requested is not None and (requested / "annotations" / "train.json").is_file():
        root = requested
    else:  # no data: the tiny profile, generated in seconds
        root = Path(tempfile.mkdtemp(prefix="bench-synth-"))
        generate("tiny", root)
    if not (root / "annotations" / "train_voc.json").is_file():
        write_split(root / "annotations" / "train.json", "voc", root / "annotations" / "train_voc.json")
    return root


def _build(config: str, mixins: list[str], options: list[str], data_root: Path, device: str):
    cfg = load_config(str(CONFIGS / config), tempfile.mkdtemp(), options, str(data_root),
                      mixins=[str(CONFIGS / m) for m in mixins])
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    return cfg, model, torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _train_step(model, optim, batch, device) -> float:
    _sync(device)
    start = time.perf_counter()
    data = model.data_preprocessor(batch, training=True)
    loss, _ = model.parse_losses(model(**data, mode="loss"))
    optim.zero_grad()
    loss.backward()
    optim.step()
    _sync(device)
    return time.perf_counter() - start


@torch.no_grad()
def _predict(model, batch, device) -> float:
    _sync(device)
    start = time.perf_counter()
    model(**model.data_preprocessor(batch, training=False), mode="predict")
    _sync(device)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=Path("data/synth/demo"))
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    register_all_modules()  # mmdet as the default registry scope, as configs' default_scope says
    device = "cuda" if torch.cuda.is_available() else "cpu"
    data_root = _data_root(args.data_root)
    models = {name: _build(cfg, mixins, opts, data_root, device) for name, (cfg, mixins, opts) in VARIANTS.items()}
    cfg = models["baseline"][0]
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    test_set = DATASETS.build(cfg.test_dataloader.dataset)
    train_batch = pseudo_collate([train_set[i] for i in range(args.batch)])
    test_batch = pseudo_collate([test_set[i] for i in range(args.batch)])

    train_times = {name: [] for name in models}
    for round_index in tqdm(range(args.warmup + args.rounds), desc="rounds"):
        for name, (_, model, optim) in models.items():
            model.train()
            elapsed = _train_step(model, optim, train_batch, device)
            if round_index >= args.warmup:
                train_times[name].append(elapsed)
    infer_times = {name: [] for name in ("baseline", "ts threshold")}
    for round_index in range(args.warmup + args.rounds):
        for name in infer_times:
            model = models[name][1].eval()
            elapsed = _predict(model, test_batch, device)
            if round_index >= args.warmup:
                infer_times[name].append(elapsed)

    def table(times: dict, baseline: str) -> dict:
        medians = {k: statistics.median(v) for k, v in times.items()}
        return {k: dict(median_s=m, ratio=m / medians[baseline]) for k, m in medians.items()}

    result = dict(device=torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
                  threads=torch.get_num_threads(), batch=args.batch, rounds=args.rounds,
                  data_root=str(data_root), train=table(train_times, "baseline"),
                  inference=table({"baseline": infer_times["baseline"], "student": infer_times["ts threshold"]},
                                  "baseline"))
    print(f"device {result['device']}, {result['threads']} threads, batch {args.batch}, {args.rounds} rounds")
    for section in ("train", "inference"):
        print(f"\n{section} (median s / iteration, ratio to the baseline of this run)")
        for name, row in result[section].items():
            print(f"  {name:<26} {row['median_s']:8.3f} s   x{row['ratio']:.2f}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
