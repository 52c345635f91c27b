"""Are two work dirs' runs number for number the same? The check of a number-neutral change.

    python scripts/compare_metrics.py BEFORE_WORK_DIR AFTER_WORK_DIR [--subset] [--out docs/number_neutral.md]

Runs are matched by what they trained (``experiment.json``: method, direction, seed, seen split, iterations), not by
folder name, so a renamed config or a new code digest still pairs them. For each pair every test metric of
``metrics.json`` (the ``bbox``, ``segm`` and ``flat`` blocks, every value, nested) must be equal; timing and
provenance (the ``run`` and ``meta`` blocks: wall seconds, paths) are not results and are not compared. Prints one
line per pair and a verdict; exits 1 when a pair differs or a run has no partner (``--subset``: AFTER re-ran some
of BEFORE's runs; BEFORE's others are listed, not failed).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tspsis.lab.records import run_records

RESULT_BLOCKS = ("bbox", "segm", "flat")
IDENTITY = ("method", "direction", "seed", "seen", "max_iters")


def runs(work_dir: Path) -> dict[tuple, tuple[Path, dict]]:
    """identity -> (run folder, metrics) of every run under work_dir that has metrics; two runs of one identity (the
    same row trained with other options, as in a held-out study) cannot be paired, and stop the comparison."""
    found: dict[tuple, tuple[Path, dict]] = {}
    for folder, experiment, metrics in run_records(work_dir):
        identity = tuple(str(experiment.get(key)) for key in IDENTITY)
        if identity in found:
            sys.exit(f"{work_dir}: {found[identity][0].name} and {folder.name} are the same row "
                     f"({', '.join(identity)}); compare work dirs with one run per row")
        found[identity] = folder, metrics
    return found


def differences(before: object, after: object, path: str = "") -> list[str]:
    """Dotted paths where two JSON values differ (floats compared exactly)."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [d for key in sorted(set(before) | set(after), key=str)
                for d in differences(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))]
    return [] if before == after else [path]


def compare(before_dir: Path, after_dir: Path, subset: bool = False) -> tuple[list[str], bool]:
    before, after = runs(before_dir), runs(after_dir)
    lines = [f"before: {before_dir}", f"after:  {after_dir}", "",
             "| " + " | ".join(IDENTITY) + " | metrics compared | differing |", "|" + "---|" * (len(IDENTITY) + 2)]
    same = True
    for identity in sorted(set(before) | set(after)):
        if identity not in before or identity not in after:
            same &= subset and identity in before
            lines.append("| " + " | ".join(identity) + f" | — | only {'before' if identity in before else 'after'} |")
            continue
        old, new = before[identity][1], after[identity][1]
        diff = [d for block in RESULT_BLOCKS for d in differences(old.get(block), new.get(block), block)]
        count = sum(len(json.dumps(old.get(block))) > 4 for block in RESULT_BLOCKS)
        same &= not diff
        lines.append("| " + " | ".join(identity) + f" | {count} blocks | {', '.join(diff[:5]) or 'none'} |")
    lines += ["", "verdict: " + ("identical (every test metric of every run)" if same else "DIFFERENT")]
    return lines, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--subset", action="store_true", help="AFTER holds some of BEFORE's runs, re-run")
    parser.add_argument("--out", type=Path, help="also write the report here (markdown)")
    args = parser.parse_args()
    lines, same = compare(args.before, args.after, args.subset)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
