"""A profile's data: generated (the synthetic profiles, ``tspsis.core.synth``) or located (COCO 2017), and every
split the notebooks use (``tspsis.core.splits.write_split``)."""
from __future__ import annotations

from pathlib import Path

from tspsis.lab.profiles import default_data_root, get_profile, split_specs

__all__ = ["SEEN_OF", "ensure_split", "prepare_data", "prepare_splits"]

SEEN_OF: dict[str, str] = {"voc2nonvoc": "voc", "nonvoc2voc": "nonvoc"}  # the seen set of each direction


def _split_paths(annotations: Path, source: str, spec: str) -> tuple[Path, Path]:
    stem = Path(source).stem
    return annotations / f"{stem}_{spec}.json", annotations / f"{stem}_{spec}.manifest.json"


def ensure_split(annotations: Path, source: str, spec: str) -> tuple[Path, Path]:
    """Write the split of ``source`` for ``spec`` unless an up-to-date one exists (COCO's train file is big)."""
    from tspsis.core.splits import write_split

    out, manifest = _split_paths(annotations, source, spec)
    src = annotations / source
    if not (out.is_file() and manifest.is_file() and out.stat().st_mtime >= src.stat().st_mtime):
        write_split(src, spec, out)
    return out, manifest


def prepare_splits(profile: str, data_root: str | Path) -> dict[str, dict[str, Path]]:
    """Write every split ``profile``'s notebooks use for the data already under ``data_root`` (nothing is generated):
    voc and nonvoc (the two directions), the profile's Fig. 8 seen sets and its coverage splits (``split_specs``), as
    DATA_ROOT/annotations/<train stem>_<spec>.json + .manifest.json, each unless an up-to-date one exists.

    What a folder made by ``tspsis data synth`` alone needs before a config trains on it. Returns {spec: {"ann",
    "manifest"}} (paths)."""
    annotations = Path(data_root) / "annotations"
    train_name = get_profile(profile).data.train_ann
    if not (annotations / train_name).is_file():
        raise FileNotFoundError(f"{annotations / train_name} not found: the {profile} profile's splits are made from "
                                f"it (tspsis data synth --out-dir {data_root} makes a synthetic one)")
    specs = list(dict.fromkeys([*SEEN_OF.values(), *split_specs(profile)]))
    return {spec: dict(zip(("ann", "manifest"), ensure_split(annotations, train_name, spec))) for spec in specs}


def prepare_data(profile: str, data_root: str | Path | None = None, seed: int = 0) -> dict:
    """Generate (synthetic profiles) or locate (``coco``) the data, and write every split the notebooks use
    (``prepare_splits``).

    Returns {"root", "train_ann", "val_ann", "val_images", "generated" (bool), "splits": {spec: {"ann",
    "manifest"}}} (paths).
    """
    source = get_profile(profile).data
    root = Path(data_root) if data_root is not None else default_data_root(profile)
    train_name, val_name = source.train_ann, source.val_ann
    annotations = root / "annotations"
    if source.generator is None:
        for name in (train_name, val_name):
            if not (annotations / name).is_file():
                raise FileNotFoundError(f"{annotations / name} not found: the {profile} profile needs its data "
                                        f"(annotations/{train_name}, annotations/{val_name}, ...) under {root}")
        generated = False
    else:
        from tspsis.core.synth import generate

        generated = generate(source.generator, root, seed=seed)["generated"]
    return {"root": root.resolve(), "train_ann": annotations / train_name, "val_ann": annotations / val_name,
            "val_images": root / source.val_images, "generated": generated,
            "splits": prepare_splits(profile, root)}
