"""Resolved configs before and after the reorganisation of configs/ (one folder per method, variants / hardware
sizing / tracks as mixins): snapshot, then compare.

    python scripts/check_config_moves.py snapshot [--out tests/data/config_snapshot.json.gz]
        resolves every top-level config of the old flat layout (configs/*.py) with mmengine and writes
        {file name: resolved config dict} as gzipped JSON (done once, before the move; committed).
    python scripts/check_config_moves.py check [--snapshot ...] [-v]
        resolves every old experiment the new way, leaf + mixins (``MOVES``, through
        ``tspsis.engine.config.load_config``), and compares it with the snapshot after the documented renames
        (``renamed``). Also checks that ``tspsis.lab.METHODS`` resolves each row that the old registry
        mapped to an old file to that same leaf + mixins (detector track). Exit status 1 on any difference.

Compared: every key of the resolved config except the helper variables configs define for their own use
(``HELPERS``: ``width``, ``train_ann_file``, ...; not read by mmengine's Runner). The one documented change is the
teacher-student interface (the heads' rewrite): the options ``pseudo_mask``, ``clean_pseudo``,
``pseudo_warmup_iters``, ``pseudo_weighting`` of a teacher-student head became one component,
``pseudo_labeler=dict(type='PseudoLabeler', post_process=..., clean=..., warmup_iters=..., weighting=...)``; the
BoxInst heads, which had no warm-up or weighting option, get their neutral values (0, 'none').
"""
from __future__ import annotations

import argparse
import copy
import gzip
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
SNAPSHOT = REPO / "tests" / "data" / "config_snapshot.json.gz"

# Variables configs define for their own use; mmengine's Runner reads none of them.
HELPERS = frozenset({"backend_args", "batch_size", "dataset_type", "img_scale", "manifest_file", "max_iters",
                     "ms_train_pipeline", "no_resize", "norm_cfg", "num_classes", "num_workers", "pseudo_labeler",
                     "teacher_student", "test_pipeline", "train_ann_file", "train_pipeline", "val_ann_file",
                     "warmup_iters", "width"})

# old name: {algo}_{setting}-{direction}[_{variant}].py
OLD_NAME = re.compile(r"(?P<algo>[a-z-]+?)_(?P<setting>r18_fpn_cpu_synth|r18_fpn_gpu_synth|r50_fpn_1x_coco|"
                      r"r50_fpn_ms-90k_coco)-(?P<direction>voc2nonvoc|nonvoc2voc)(?:_(?P<variant>[a-z-]+))?\.py")
FOLDERS = {"psis-mask-rcnn": "mask_rcnn", "oracle-mask-rcnn": "mask_rcnn", "ts-mask-rcnn": "mask_rcnn_ts",
           "maskx-rcnn": "maskx_rcnn", "grabcut-faster-rcnn": "grabcut", "cpmask": "cpmask", "opmask": "opmask",
           "ts-opmask": "opmask", "psis-boxinst": "boxinst", "ts-boxinst": "boxinst"}
SETTINGS = {"r18_fpn_cpu_synth": "r18-scratch_fpn_synth",
            "r18_fpn_gpu_synth": "r18-scratch_fpn_synth",  # + the one-GPU mixin
            "r50_fpn_1x_coco": "r50_fpn_coco", "r50_fpn_ms-90k_coco": "r50_fpn_coco"}
RENAMED = {"mask-rcnn_r18_fpn_smoke.py": ("mask_rcnn/mask-rcnn_r18-scratch_fpn_smoke.py", ())}

# The old registry (tspsis.experiments before the move): label -> old file-name template, per-profile setting.
OLD_SETTINGS = {"tiny": "r18_fpn_cpu_synth", "demo": "r18_fpn_cpu_synth", "full": "r18_fpn_gpu_synth",
                "coco": "r50_fpn_1x_coco"}
OLD_METHODS = {
    "Mask R-CNN": "psis-mask-rcnn_{setting}-{direction}", "Mask R-CNN + ours": "ts-mask-rcnn_{setting}-{direction}_thr",
    "MaskX R-CNN": "maskx-rcnn_{setting}-{direction}", "Mask GrabCut": "grabcut-faster-rcnn_{setting}-{direction}",
    "CPMask": "cpmask_{setting}-{direction}", "OPMask": "opmask_{setting}-{direction}",
    "OPMask + ours": "ts-opmask_{setting}-{direction}_thr", "BoxInst": "psis-boxinst_{setting}-{direction}",
    "BoxInst + ours": "ts-boxinst_{setting}-{direction}_thr", "Oracle": "oracle-mask-rcnn_{setting}-{direction}",
    "BoxInst + ours: CRF": "ts-boxinst_{setting}-{direction}_crf",
    "BoxInst + ours: interact": "ts-boxinst_{setting}-{direction}_interact",
    "ts: no post-processing": "ts-mask-rcnn_{setting}-{direction}_no-post",
    "ts: CRF": "ts-mask-rcnn_{setting}-{direction}_crf", "ts: interact": "ts-mask-rcnn_{setting}-{direction}_interact",
    "ts: high-res teacher": "ts-mask-rcnn_{setting}-{direction}_hr-teacher",
    "ts: deeper teacher": "ts-mask-rcnn_{setting}-{direction}_deep-teacher",
}
OLD_BOXINST_COCO = "r50_fpn_ms-90k_coco"


def normalise(node):
    """JSON-comparable form of a resolved config (tuples -> lists, other objects -> str)."""
    return json.loads(json.dumps(node, sort_keys=True, default=str))


def new_location(old: str) -> tuple[str, tuple[str, ...]]:
    """(leaf, mixins), paths under configs/, that replace the old top-level config ``old`` (a file name)."""
    if old in RENAMED:
        return RENAMED[old]
    match = OLD_NAME.fullmatch(old)
    if match is None:
        raise ValueError(f"{old}: not an old experiment config name")
    algo, setting, direction, variant = match.group("algo", "setting", "direction", "variant")
    leaf = f"{FOLDERS[algo]}/{algo}_{SETTINGS[setting]}-{direction}.py"
    boxinst = algo.endswith("boxinst")
    mixins = []
    if variant not in (None, "thr"):
        mixins.append(f"_base_/ts_variants/{'boxinst-' if boxinst else ''}{variant}.py")
    if setting == "r18_fpn_gpu_synth":
        mixins.append(f"_base_/schedules/{'boxinst-' if boxinst else ''}synth-gpu_1xb16-3000it.py")
    return leaf, tuple(mixins)


def renamed(resolved: dict) -> dict:
    """The old resolved config with the teacher-student options in the new interface (module docstring)."""
    out = copy.deepcopy(resolved)

    def move(node: dict) -> None:
        if "pseudo_mask" in node and str(node.get("type", "")).startswith("TeacherStudent"):
            node["pseudo_labeler"] = dict(type="PseudoLabeler", post_process=node.pop("pseudo_mask"),
                                          clean=node.pop("clean_pseudo", True),
                                          warmup_iters=node.pop("pseudo_warmup_iters", 0),
                                          weighting=node.pop("pseudo_weighting", "none"))

    _visit_dicts(out.get("model"), move)
    return _fixed(out)


def _visit_dicts(node, fn) -> None:
    """fn(d) for every dict d under node (before descending into it)."""
    if isinstance(node, dict):
        fn(node)
        for value in node.values():
            _visit_dicts(value, fn)
    elif isinstance(node, list):
        for value in node:
            _visit_dicts(value, fn)


def _fixed(resolved: dict) -> dict:
    """The documented fixes made after the move, applied to an old resolved config (in place): the test
    pipelines load the boxes before resizing (the box-conditioned track's given boxes must be scaled with the
    image), the test evaluator asks for overlap bins and false-positive attribution explicitly (both are off by
    default in PartialCocoMetric), every run has a training seed, and soft targets
    (post_process type 'none') carry no threshold (the PseudoLabeler refuses options a type does not take), and the
    oracle's stock StandardRoIHead is PartialRoIHead(fully_supervised=True) (the same training; it also predicts
    the given boxes of the box-conditioned track), and checkpoints are saved by tspsis' AtomicCheckpointHook (the
    same files, never half written), and the plugin is imported as ``tspsis.plugin`` (``tspsis.models`` became a
    deprecated alias of it: the same registrations)."""
    imports = (resolved.get("custom_imports") or {}).get("imports")
    if imports:
        resolved["custom_imports"]["imports"] = ["tspsis.plugin" if i == "tspsis.models" else i for i in imports]
    for loader in ("val_dataloader", "test_dataloader"):
        pipeline = ((resolved.get(loader) or {}).get("dataset") or {}).get("pipeline")
        if pipeline:
            load = next(i for i, t in enumerate(pipeline) if t["type"] == "LoadAnnotations")
            pipeline.insert(1, pipeline.pop(load))
    if resolved.get("test_evaluator", {}).get("type") == "PartialCocoMetric":
        resolved["test_evaluator"].update(overlap_bins=True, fp_attribution=True)
    resolved.setdefault("randomness", {}).setdefault("seed", 0)  # every run is seeded (runner.DEFAULT_SEED)
    checkpoint = (resolved.get("default_hooks") or {}).get("checkpoint") or {}
    if checkpoint.get("type") == "CheckpointHook":
        checkpoint["type"] = "AtomicCheckpointHook"
    _visit_dicts(resolved.get("model"), lambda d: d.pop("thr") if d.get("type") == "none" and "thr" in d else None)
    roi_head = (resolved.get("model") or {}).get("roi_head") or {}
    oracle = "manifest" in (resolved.get("test_evaluator") or {})  # all masks in training, scored per split
    if oracle and roi_head.get("type") == "StandardRoIHead" and roi_head.get("mask_head"):  # see its leaf config
        roi_head.update(type="PartialRoIHead", fully_supervised=True)
    return resolved


def resolve_new(leaf: str, mixins: tuple[str, ...]) -> dict:
    from tspsis.engine.config import load_config

    cfg = load_config(str(CONFIGS / leaf), "WORK_DIR", [], mixins=[str(CONFIGS / m) for m in mixins])
    return normalise(cfg.to_dict())


def differences(old, new, path: str = "") -> list[str]:
    """Paths (dotted) where two JSON values differ, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else key
            if key not in new:
                out.append(f"{sub}: only before ({json.dumps(old[key])[:80]})")
            elif key not in old:
                out.append(f"{sub}: only after ({json.dumps(new[key])[:80]})")
            else:
                out += differences(old[key], new[key], sub)
        return out
    return [] if old == new else [f"{path}: {json.dumps(old)[:80]} -> {json.dumps(new)[:80]}"]


ADDED_HOOKS = ("TeacherCoverageHook",)  # hooks added after the move that read logged numbers only: no result changes


def _without_added_hooks(resolved: dict) -> dict:
    """``resolved`` without the ``ADDED_HOOKS`` in its ``custom_hooks`` (the key dropped if nothing else is left)."""
    hooks = [h for h in resolved.get("custom_hooks") or [] if h.get("type") not in ADDED_HOOKS]
    out = {k: v for k, v in resolved.items() if k != "custom_hooks"}
    return dict(out, custom_hooks=hooks) if hooks else out


def compare(old: dict, new: dict) -> list[str]:
    """Differences between an old resolved config (renamed) and a new one, helper variables and the hooks added
    since (``ADDED_HOOKS``) left out."""
    keep = lambda d: {k: v for k, v in d.items() if k not in HELPERS and k != "work_dir"}  # noqa: E731
    return differences(keep(renamed(old)), keep(_without_added_hooks(new)))


def load_snapshot(path: Path = SNAPSHOT) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def check_registry() -> list[str]:
    """METHODS (detector track) resolves every row the old registry mapped to an old file to that file's new
    leaf + mixins."""
    from tspsis import lab as experiments

    problems = []
    for label, template in OLD_METHODS.items():
        for profile, setting in OLD_SETTINGS.items():
            if label.startswith("BoxInst") and profile == "coco":
                setting = OLD_BOXINST_COCO
            for direction in experiments.DIRECTIONS:
                old = template.format(setting=setting, direction=direction) + ".py"
                leaf, mixins = new_location(old)
                spec = experiments.config(label, direction, profile, "detector")
                got = (str(spec.leaf.relative_to(CONFIGS)), tuple(str(m.relative_to(CONFIGS)) for m in spec.mixins))
                if got != (leaf, mixins):
                    problems.append(f"METHODS[{label!r}] {profile} {direction}: {got}, expected {(leaf, mixins)} "
                                    f"(old {old})")
    return problems


def check(snapshot_path: Path, verbose: bool) -> int:
    snapshot = load_snapshot(snapshot_path)
    failures = 0
    for old, resolved in sorted(snapshot.items()):
        leaf, mixins = new_location(old)
        diffs = compare(resolved, resolve_new(leaf, mixins))
        failures += bool(diffs)
        if diffs or verbose:
            print(f"{'DIFFERENT' if diffs else 'same'}: {old} -> {' + '.join((leaf, *mixins))}")
        for line in diffs:
            print(f"    {line}")
    registry = check_registry()
    for line in registry:
        print(line)
    print(f"{len(snapshot) - failures} of {len(snapshot)} old configs resolve the same after the move; "
          f"registry: {'ok' if not registry else f'{len(registry)} problems'}")
    return 1 if failures or registry else 0


def snapshot(out: Path) -> int:
    from mmengine.config import Config

    configs = sorted(CONFIGS.glob("*.py"))
    data = {path.name: normalise(Config.fromfile(str(path)).to_dict()) for path in configs}
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
    chk = sub.add_parser("check", help="compare the new layout with the snapshot")
    chk.add_argument("--snapshot", type=Path, default=SNAPSHOT)
    chk.add_argument("-v", "--verbose", action="store_true", help="list the configs that are the same, too")
    args = ap.parse_args(argv)
    if args.command == "snapshot":
        return snapshot(args.out)
    return check(args.snapshot, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
