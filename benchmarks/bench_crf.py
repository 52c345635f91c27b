"""Time the two dense-CRF back-ends of tspsis.core.pseudo.crf on a batch of RoIs (paper Table 5: CRF cost).

pydensecrf (per-RoI loop, CPU) against the batched exact mean field in torch (CPU, and CUDA when
available), on realistic synthetic RoIs (`tspsis.core.testing.synthetic_roi_batch`). Prints the best
of `--repeats` wall times, the speed-up over pydensecrf and how well the masks agree.

    python benchmarks/bench_crf.py --num-rois 128 --size 28 --threads 1
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from tqdm import tqdm

from tspsis.core.pseudo import CRFParams, crf, threshold
from tspsis.core.testing import synthetic_roi_batch


def best_time(fn: Callable[[], torch.Tensor], repeats: int, sync: bool) -> float:
    """Best wall time in seconds of `repeats` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) IoU of (N, H, W) bool masks; 1 where both are empty."""
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-rois", type=int, default=128)
    parser.add_argument("--size", type=int, default=28, help="RoI grid side (28 in Mask R-CNN)")
    parser.add_argument("--iterations", type=int, default=5, help="mean-field iterations")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    images, truth, probs = synthetic_roi_batch(args.num_rois, size=args.size, seed=args.seed)
    params = CRFParams()
    runs: list[tuple[str, Callable[[], torch.Tensor], bool]] = [
        ("pydensecrf (CPU, loop)", lambda: crf(probs, images, backend="pydensecrf", iterations=args.iterations), False),
        ("torch (CPU, batched)", lambda: crf(probs, images, backend="torch", iterations=args.iterations), False),
    ]
    if torch.cuda.is_available():
        probs_gpu, images_gpu = probs.cuda(), images.cuda()
        runs.append(("torch (CUDA, batched)", lambda: crf(probs_gpu, images_gpu, iterations=args.iterations), True))

    print(
        f"{args.num_rois} RoIs of {args.size}x{args.size}, {args.iterations} mean-field iterations, "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {params}"
    )
    seconds = {name: best_time(fn, args.repeats, sync) for name, fn, sync in tqdm(runs, desc="timing")}
    reference = seconds["pydensecrf (CPU, loop)"]
    for name, sec in seconds.items():
        print(
            f"  {name:24s} {1000 * sec:9.1f} ms  ({1000 * sec / args.num_rois:6.3f} ms/RoI)  "
            f"x{reference / sec:7.1f} vs pydensecrf"
        )

    masks = {name: fn().cpu() for name, fn, _ in runs}
    agreement = mask_iou(masks["torch (CPU, batched)"], masks["pydensecrf (CPU, loop)"])
    print(f"  mask IoU torch vs pydensecrf: mean {agreement.mean():.4f}, min {agreement.min():.4f}")
    if "torch (CUDA, batched)" in masks:
        cuda_vs_cpu = mask_iou(masks["torch (CUDA, batched)"], masks["torch (CPU, batched)"])
        print(f"  mask IoU torch CUDA vs CPU:   mean {cuda_vs_cpu.mean():.4f}")
    for name, mask in [("threshold 0.5", threshold(probs))] + [(f"CRF {n}", m) for n, m in masks.items()]:
        print(f"  IoU with truth, {name:30s} {mask_iou(mask, truth).mean():.4f}")


if __name__ == "__main__":
    main()
