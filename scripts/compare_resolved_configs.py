"""Resolved configs of every registry row before and after a renaming of config files: equal but for names?

    cd OLD_TREE && python scripts/compare_resolved_configs.py dump PROFILE old_PROFILE.json.gz
    cd NEW_TREE && python scripts/compare_resolved_configs.py dump PROFILE new_PROFILE.json.gz
    python scripts/compare_resolved_configs.py compare old_PROFILE.json.gz new_PROFILE.json.gz [...pairs]

``dump`` resolves every (method, track, direction) of ``tspsis.lab.METHODS`` (``tspsis.experiments.METHODS`` in a
tree before the layers of docs/DESIGN.md; both are read) and the shared pre-training that the tree has for PROFILE
the way ``resolve`` does (leaf + mixins, the profile's cfg_options and
``max_iters``, a fixed data root, seed 0; without the pre-training checkpoint option, whose path holds a run key)
and writes {row: {leaf, mixins, iters, cfg}}. ``compare`` checks that both hold the same rows and that each row's
resolved config is the same dict (every key; the file names are not part of it; the plugin's import path in
``custom_imports``, ``tspsis.models`` before the layers, ``tspsis.plugin`` after, counts as one), and prints the
old -> new names. Exit status 1 on any difference: the check that a renaming or restructuring is number-neutral.
"""
from __future__ import annotations

import gzip
import json
import sys


PLUGIN_IMPORTS = {"tspsis.models": "tspsis.plugin"}  # the plugin's import path before -> after the layers


def _registry():
    """(registry module, load_config, profile -> Schedule, configs folder) of this tree, in any of its layouts:
    a run request's resolved config (``RunRequest.cfg``, what a lab run hashes and launches), else the layers'
    ``tspsis.engine.runner.load_config``, else the flat tree's."""
    try:
        from tspsis import lab as e
        from tspsis.engine.request import RunRequest
        from tspsis.lab.registry import CONFIGS

        def load_config(leaf, work_dir, options, data_root, iters, mixins, seed):
            cfg = RunRequest(leaf, tuple(mixins), tuple(options), data_root, iters, seed).cfg
            cfg.work_dir = work_dir
            return cfg

        return e, load_config, lambda profile: e.PROFILES[profile].schedule, CONFIGS
    except ImportError:  # a tree before the run requests
        pass
    try:
        from tspsis import lab as e
        from tspsis.engine.runner import load_config
        from tspsis.lab.registry import CONFIGS

        return e, load_config, lambda profile: e.PROFILES[profile].schedule, CONFIGS
    except ImportError:  # a tree before the layers
        from tspsis import experiments as e
        from tspsis.runner import load_config

        return e, load_config, lambda profile: e.SCHEDULES[profile], e.CONFIGS


def _normalised(cfg: dict) -> dict:
    imports = (cfg.get("custom_imports") or {}).get("imports")
    if imports:
        cfg["custom_imports"]["imports"] = [PLUGIN_IMPORTS.get(name, name) for name in imports]
    return cfg


def dump(profile: str, out: str) -> int:
    e, load_config, schedule_of, configs = _registry()
    rows = {}
    for label in [*e.METHODS, e.PRETRAINING.label]:
        for track in e.TRACKS:
            for direction in e.DIRECTIONS:
                try:
                    spec = e.config(label, direction, profile, track)
                except ValueError:  # no such track for this row or profile
                    continue
                if spec.missing():
                    continue
                schedule = schedule_of(profile)
                iters = 1 if track in e.METHODS.get(label, e.PRETRAINING).untrained_tracks else schedule.max_iters
                if label == e.PRETRAINING.label:
                    iters = schedule.pretrain_iters or iters
                cfg = load_config(str(spec.leaf), "WORK_DIR", list(schedule.cfg_options), "/DATA_ROOT", iters,
                                  [str(m) for m in spec.mixins], 0)
                rows[f"{label} | {profile} | {track} | {direction}"] = dict(
                    leaf=str(spec.leaf.relative_to(configs)),
                    mixins=[str(m.relative_to(configs)) for m in spec.mixins], iters=iters,
                    cfg=_normalised(json.loads(json.dumps(cfg.to_dict(), sort_keys=True, default=str))))
    with gzip.open(out, "wt") as f:
        json.dump(rows, f)
    print(f"{out}: {len(rows)} resolved rows of profile {profile}")
    return 0


def compare(pairs: list[tuple[str, str]]) -> int:
    bad = total = 0
    names: dict[str, str] = {}
    for old_path, new_path in pairs:
        with gzip.open(old_path, "rt") as f:
            old = json.load(f)
        with gzip.open(new_path, "rt") as f:
            new = json.load(f)
        if set(old) != set(new):
            print(f"{old_path} / {new_path}: different rows: {sorted(set(old) ^ set(new))}")
            bad += 1
        for row in sorted(set(old) & set(new)):
            total += 1
            same = old[row]["cfg"] == new[row]["cfg"] and old[row]["iters"] == new[row]["iters"]
            bad += not same
            if not same:
                print(f"DIFFERENT: {row}")
            for side in (old[row], new[row]):
                side["name"] = "+".join([side["leaf"].rsplit("/", 1)[-1][:-3],
                                         *(m.rsplit("/", 1)[-1][:-3] for m in side["mixins"])])
            names[old[row]["name"]] = new[row]["name"]
    for before, after in sorted(names.items()):
        print(f"{before}  ->  {after}")
    print(f"{total - bad} of {total} resolved configs equal (every key), {bad} different")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        sys.exit(dump(sys.argv[2], sys.argv[3]))
    args = sys.argv[2:]
    sys.exit(compare(list(zip(args[::2], args[1::2]))))
