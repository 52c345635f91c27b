"""Per-model seconds of the runs in a work dir: the timing table of docs/results.md.

    python scripts/run_timing.py work_dirs/demo

Reads each finished run's ``experiment.json`` (method, direction, seed) and ``metrics.json`` (``run`` block written
by the runner: wall seconds of the whole run, median seconds per training iteration, iterations) and prints, per
method, the number of runs, the median wall seconds per run (start-up, training, test pass) and the median s/it,
plus the sum over all runs. Runs without timing (test-only ones, e.g. Mask GrabCut's or a teacher test) count
with their wall seconds and no s/it.
"""
from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from tspsis.lab.records import run_records


def timings(work_dir: Path) -> dict[str, list[tuple[float, float | None]]]:
    """method -> [(wall seconds, median s/it or None)] of every finished run under work_dir."""
    rows: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
    for _, experiment, metrics in run_records(work_dir):
        run = metrics.get("run", {})
        if run.get("complete") and run.get("wall_seconds_total") is not None:
            rows[experiment["method"]].append((float(run["wall_seconds_total"]), run.get("iter_time_median")))
    return rows


def markdown(rows: dict[str, list[tuple[float, float | None]]]) -> str:
    lines = ["| method | runs | median wall s per run | median s/it |", "|---|---|---|---|"]
    for method, values in sorted(rows.items(), key=lambda kv: -len(kv[1])):
        its = [it for _, it in values if it is not None]
        per_it = f"{statistics.median(its):.3f}" if its else "—"
        lines.append(f"| {method} | {len(values)} | {statistics.median(w for w, _ in values):.0f} | {per_it} |")
    total = sum(w for values in rows.values() for w, _ in values)
    lines.append(f"| all | {sum(map(len, rows.values()))} | sum {total:.0f} s ({total / 60:.1f} min) | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    print(markdown(timings(parser.parse_args().work_dir)))


if __name__ == "__main__":
    main()
