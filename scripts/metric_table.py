"""One metric of every row of a work dir, mean ± std over training seeds: docs/results.md's tables no notebook prints.

    python scripts/metric_table.py work_dirs/demo --metric segm.seen.AP [--methods "Mask R-CNN" Oracle]

Reads each finished run's ``experiment.json`` (method, direction, seed, seen split) and ``metrics.json`` and prints
a markdown table, one row per method, one column per direction: mean ± sample std over the seeds (n), formatted as
the notebooks format them (``tspsis.core.stats.Stat``). Runs on another seen split (Fig. 8) are left out.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from tspsis.core.paper import DIRECTIONS
from tspsis.core.stats import Stat, format_stat
from tspsis.lab.records import run_records
from tspsis.viz.tables import DIRECTION_TITLES


def values(work_dir: Path, metric: str) -> dict[tuple[str, str], dict[int, float]]:
    """(method, direction) -> {seed: value of the dotted `metric`} of every finished run under work_dir."""
    found: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for _, experiment, value in run_records(work_dir):
        if experiment.get("seen"):
            continue
        for key in metric.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            found[experiment["method"], experiment["direction"]][int(experiment.get("seed") or 0)] = float(value)
    return found


def markdown(found: dict[tuple[str, str], dict[int, float]], metric: str, methods: list[str] | None) -> str:
    rows = methods or sorted({method for method, _ in found})
    lines = [f"| method | {' | '.join(f'{metric}, {DIRECTION_TITLES[d]}' for d in DIRECTIONS)} |",
             "|---|" + "---|" * len(DIRECTIONS)]
    for method in rows:
        cells = []
        for direction in DIRECTIONS:
            by_seed = found.get((method, direction))
            cells.append(format_stat(Stat([by_seed[s] for s in sorted(by_seed)], sorted(by_seed)), 1)
                         if by_seed else "—")
        lines.append(f"| {method} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--metric", default="segm.seen.AP", help="dotted key of metrics.json")
    parser.add_argument("--methods", nargs="+", help="rows, in this order (default: every method found)")
    args = parser.parse_args()
    print(markdown(values(args.work_dir, args.metric), args.metric, args.methods))


if __name__ == "__main__":
    main()
