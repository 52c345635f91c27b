"""Resolved configs before and after a reorganisation of configs/: snapshot, then compare.

    python scripts/check_config_moves.py snapshot [--out tests/data/config_snapshot.json.gz]
        resolves every top-level config (configs/*.py, the layout before the move) with mmengine and writes
        {file name: resolved config dict} as gzipped JSON.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
SNAPSHOT = REPO / "tests" / "data" / "config_snapshot.json.gz"


def normalise(node):
    """JSON-comparable form of a resolved config (tuples -> lists, other objects -> str)."""
    return json.loads(json.dumps(node, sort_keys=True, default=str))


def resolve(config: Path) -> dict:
    from mmengine.config import Config

    return normalise(Config.fromfile(str(config)).to_dict())


def snapshot(out: Path) -> int:
    configs = sorted(CONFIGS.glob("*.py"))
    data = {path.name: resolve(path) for path in configs}
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True, separators=(",", ":"))
    print(f"{out}: {len(data)} resolved configs")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    snap = sub.add_parser("snapshot", help="resolve every top-level config into a JSON snapshot")
    snap.add_argument("--out", type=Path, default=SNAPSHOT)
    args = ap.parse_args(argv)
    if args.command == "snapshot":
        return snapshot(args.out)
    return 2


if __name__ == "__main__":
    sys.exit(main())
