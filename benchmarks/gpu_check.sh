#!/usr/bin/env bash
# The project's numbers on a GPU in one call of at most 9 minutes, on a bare machine (Python 3.12 + torch, no
# package index) that is lent for a few minutes: nothing may be left to set up by hand, so this script is written
# and dry-run beforehand (tests/repo/test_gpu_check.py).
#
#   bash benchmarks/gpu_check.sh [--wheels DIR] [OUT_DIR]   # on the GPU machine; OUT_DIR default: $OUT
#   bash benchmarks/gpu_check.sh --dry-run OUT_DIR          # the same steps on the CPU, tiny sizes, no install
#
# Steps (each under its own time limit, all within DEADLINE seconds; a failed step is recorded and the next runs):
#   install      pip-installs the wheel folder (--wheels, else the first of ./shared/wheels/gpu-py312 and
#                ../shared/wheels/gpu-py312; ../shared/wheels/README.md) into /tmp/site, no index, no deps
#   doctor       python -m tspsis doctor
#   data         synthetic data (demo profile; dry run: tiny) and its splits (tspsis.lab.prepare_data)
#   bench_train  teacher-student / baseline training step, CRF / threshold, student / baseline inference
#   bench_crf    the dense CRF's back-ends (pydensecrf loop, torch batched on CPU and CUDA)
#   bench_speed  images/s of the full profile's configs (detector track, one-GPU sizing), AMP beside fp32
#   train_*      the detector track, baseline and + ours, TRAIN_ITERS iterations with the one-GPU sizing, and AP
# Writes to OUT_DIR (at most 8 files, what a lent machine returns): gpu_check.log (everything printed),
# bench_train.json, bench_speed.json, baseline.metrics.json, ours.metrics.json and summary.json (per step: exit
# status and seconds; the headline ratios, images/s and AP).
set -uo pipefail

dry_run=0 wheels="" out="${OUT:-}"
while (($#)); do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --wheels) wheels="$2"; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpu_check.sh: unknown option $1" >&2; exit 2 ;;
    *) out="$1" ;;
  esac
  shift
done
[[ -n "$out" ]] || { echo "gpu_check.sh: give an output folder (or set \$OUT)" >&2; exit 2; }
mkdir -p "$out" && out="$(cd "$out" && pwd)"
cd "$(dirname "$0")/.."
scratch="$(mktemp -d /tmp/gpu_check.XXXXXX)"  # data, work dirs, checkpoints: not returned
log="$out/gpu_check.log" steps="$scratch/steps.tsv"
: >"$log" >"$steps"

if ((dry_run)); then
  python="${PYTHON:-python}" data_profile=tiny train_iters=2 deadline=240 mixin=() threads=1
  bench_train_args=(--batch 2 --rounds 1 --warmup 0)
  bench_crf_args=(--num-rois 8 --repeats 1 --iterations 2)
  bench_speed_args=(--profile tiny --track detector --methods "Mask R-CNN" "Mask R-CNN + ours" --batch 2 --rounds 1)
else
  python="${PYTHON:-python3}" data_profile=demo train_iters=300 deadline=530 threads=8
  mixin=(--mixin configs/_base_/schedules/synth-gpu_1xb16-3000it.py)
  bench_train_args=(--batch 16 --rounds 10 --warmup 3)
  bench_crf_args=(--num-rois 512 --repeats 5)
  bench_speed_args=(--profile full --track detector --batch 16 --rounds 5)
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS="$threads"

# step NAME LIMIT_S CMD...: run CMD, output to the log, within LIMIT_S and what is left of the deadline
step() {
  local name="$1" limit="$2" start=$SECONDS rc
  shift 2
  ((limit > deadline - SECONDS)) && limit=$((deadline - SECONDS))
  if ((limit <= 0)); then
    rc=124
    echo "== $name: skipped, the ${deadline} s deadline has passed" | tee -a "$log"
  else
    echo "== $name (limit ${limit} s): $*" | tee -a "$log"
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
  fi
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" >>"$steps"
  echo "== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$log"
}

if ((!dry_run)); then
  if [[ -z "$wheels" ]]; then
    for candidate in shared/wheels/gpu-py312 ../shared/wheels/gpu-py312; do
      [[ -d "$candidate" ]] && { wheels="$candidate"; break; }
    done
  fi
  [[ -d "$wheels" ]] || { echo "gpu_check.sh: no wheel folder (give --wheels DIR)" | tee -a "$log" >&2; exit 2; }
  step install 120 "$python" -m pip install -q --no-index --no-deps --target /tmp/site "$wheels"/*.whl
  export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi

data="$scratch/data"
step doctor 60 "$python" -m tspsis doctor
step data 90 "$python" -c "import sys; from tspsis.lab import prepare_data; prepare_data(*sys.argv[1:])" \
  "$data_profile" "$data"
step bench_train 120 "$python" benchmarks/bench_train.py --data-root "$data" "${bench_train_args[@]}" \
  --out "$out/bench_train.json"
step bench_crf 45 "$python" benchmarks/bench_crf.py --threads "$threads" "${bench_crf_args[@]}"
step bench_speed 120 "$python" benchmarks/bench_box_conditioned.py --data-root "$data" --threads "$threads" \
  "${bench_speed_args[@]}" --out "$out/bench_speed.json"
for run in baseline:mask_rcnn/psis ours:mask_rcnn_ts/ts; do
  name="${run%%:*}" work="$scratch/train_${run%%:*}"
  step "train_$name" 150 "$python" -m tspsis train "configs/${run#*:}-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py" \
    "${mixin[@]}" --data-root "$data" --max-iters "$train_iters" --work-dir "$work" \
    --cfg-options val_dataloader=None val_cfg=None val_evaluator=None default_hooks.checkpoint.max_keep_ckpts=1
  [[ -f "$work/metrics.json" ]] && cp "$work/metrics.json" "$out/$name.metrics.json"
done

"$python" - "$steps" "$out" "$dry_run" <<'EOF' 2>&1 | tee -a "$log"
"""summary.json: each step's exit status and seconds, and the headline numbers of the files beside it."""
import json, sys
from pathlib import Path

steps, out, dry_run = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
def read(name):
    path = out / name
    return json.loads(path.read_text()) if path.is_file() else None

summary = dict(dry_run=dry_run, steps={}, results={})
for line in steps.read_text().splitlines():
    name, rc, seconds = line.split("\t")
    summary["steps"][name] = dict(exit=int(rc), seconds=int(seconds))
if (train := read("bench_train.json")) is not None:
    t = {k: v["median_s"] for k, v in train["train"].items()}
    summary["results"].update(
        device=train["device"],
        ts_over_baseline_step=t["ts threshold"] / t["baseline"],
        crf_over_threshold_step=t["ts crf-torch"] / t["ts threshold"],
        student_over_baseline_inference=train["inference"]["student"]["ratio"])
if (speed := read("bench_speed.json")) is not None:
    summary["results"]["images_per_s"] = {m: dict(fp32=r["fp32"]["images_per_s"], fast=r["fast"]["images_per_s"])
                                          for m, r in speed["methods"].items()}
for name in ("baseline", "ours"):
    if (metrics := read(f"{name}.metrics.json")) is not None:
        run = metrics["run"]
        ap = {k: v for k, v in metrics["flat"].items() if k.endswith("_AP")}  # unseen / seen / all, bbox and segm
        summary["results"][name] = dict(ap, iters=run["iters"], iter_time_median=run.get("iter_time_median"),
                                        wall_seconds_total=run["wall_seconds_total"])
(out / "summary.json").write_text(json.dumps(summary, indent=1))
print(json.dumps(summary["steps"]), "\nsummary:", out / "summary.json")
EOF
awk -F'\t' '$2 != 0 {exit 1}' "$steps"  # exit status: 1 if a step failed
