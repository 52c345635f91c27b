"""The runs of each leaf config, by their composed names, in the configs' metafiles: a metafile names
the whole composition, not the leaf alone.

    python scripts/metafile_runs.py [--check]

For every model of ``configs/*/metafile.yml`` (a leaf), ``Metadata.Runs`` lists the rows of
``tspsis.lab.METHODS`` that train it in the demo, full and coco profiles (their default track), each by
the name of what trains: ``tspsis.engine.config.composed_name`` of leaf + mixins + the profile's iterations, the name of
its run folder (``-<key>`` added) and of the resolved config dumped there. ``--check``: exit 1 if a metafile is
not current (tests/repo/test_config_names.py).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILES = ("demo", "full", "coco")
HEADER = "      Runs:  # row, profile: the name of what trains (tspsis.engine.config.composed_name)"


def runs_of(leaf: Path) -> dict[str, str]:
    """{"<row>, <profile>": composed name} of every registry row whose leaf is ``leaf``."""
    from tspsis import lab as e
    from tspsis.engine.config import composed_name

    out = {}
    for profile in PROFILES:
        for label, method in e.METHODS.items():
            track = e.PROFILES[profile].track
            if e.unavailable_reason(label, "voc2nonvoc", profile, track) is not None:
                continue
            for direction in e.DIRECTIONS:
                spec = e.config(label, direction, profile, track)
                if spec.leaf.resolve() != leaf.resolve():
                    continue
                iters = 1 if track in method.untrained_tracks else e.PROFILES[profile].schedule.max_iters
                out[f"{label}, {profile}"] = composed_name(spec.leaf, spec.mixins, iters)
    return out


def updated(text: str) -> str:
    """A metafile's text with every model's ``Runs`` block (re)written."""
    lines = _without_runs(text.splitlines())
    out, config = [], None
    for line in lines:
        out.append(line)
        if (m := re.fullmatch(r"    Config: (\S+)", line)):
            config = REPO / m.group(1)
        elif line == "    Metadata:" and config is not None:
            runs = runs_of(config)
            if runs:
                out.append(HEADER)
                out += [f"        '{k}': '{v}'" for k, v in runs.items()]
            config = None
    return "\n".join(out) + "\n"


def _without_runs(lines: list[str]) -> list[str]:
    out, skipping = [], False
    for line in lines:
        if line == HEADER:
            skipping = True
            continue
        if skipping and line.startswith("        '"):
            continue
        skipping = False
        out.append(line)
    return out


def main(argv: list[str]) -> int:
    stale = []
    for path in sorted((REPO / "configs").glob("*/metafile.yml")):
        text = path.read_text()
        new = updated(text)
        if new != text:
            stale.append(path)
            if "--check" not in argv:
                path.write_text(new)
    for path in stale:
        print(f"{'stale' if '--check' in argv else 'written'}: {path.relative_to(REPO)}")
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
