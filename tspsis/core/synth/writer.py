"""Writing the synthetic benchmark to disk (``generate``): DATA_ROOT/annotations/{train,val}.json and the PNGs,
rendered in parallel by :func:`tspsis.core.synth.render.render_sample`, skipped when up to date."""
from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from tqdm import tqdm

from tspsis.core.io import write_bytes_atomic, write_json_atomic
from tspsis.core.synth.render import (CATEGORIES, GENERATOR_VERSION, SPLITS, VOC_CATEGORY_NAMES, SynthProfile,
                                      SynthSample, _get_profile, render_sample)

__all__ = ["generate"]


def _annotations(sample: SynthSample) -> list[dict]:
    """COCO annotation dicts (without id/image_id) of a sample: RLE of the modal mask, tight integer box."""
    anns = []
    for category_id, mask in zip(sample.category_ids, sample.masks):
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        ys, xs = np.nonzero(mask)
        x0, y0 = int(xs.min()), int(ys.min())
        anns.append({
            "category_id": int(category_id),
            "bbox": [x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0],
            "area": int(mask.sum()),
            "iscrowd": 0,
            "segmentation": {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": rle["counts"].decode("ascii")},
        })
    return anns


def _file_name(index: int) -> str:
    return f"{index:06d}.png"


def _write_image(job: tuple[SynthProfile, int, str, int, str]) -> list[dict]:
    """Render one image, write its PNG atomically, return its annotation dicts (worker function)."""
    profile, seed, split, index, image_dir = job
    sample = render_sample(profile, seed, split, index)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise RuntimeError(f"PNG encoding failed for {split} image {index}")
    write_bytes_atomic(Path(image_dir) / _file_name(index), png.tobytes())
    return _annotations(sample)


def _info(profile: SynthProfile, seed: int, split: str) -> dict:
    return {
        "description": "tspsis synthetic partially supervised instance segmentation benchmark",
        "generator_version": GENERATOR_VERSION,
        "profile": profile.name,
        "seed": seed,
        "split": split,
        "profile_params": asdict(profile),
        "tspsis_voc_categories": list(VOC_CATEGORY_NAMES),
    }


def _paths(root: Path) -> dict:
    return {"root": root,
            **{f"{split}_ann": root / "annotations" / f"{split}.json" for split in SPLITS},
            **{f"{split}_img_dir": root / split for split in SPLITS}}


def _up_to_date(root: Path, profile: SynthProfile, seed: int) -> bool:
    """True if both annotation files exist with this profile/seed/version and all their images exist."""
    paths = _paths(root)
    for split in SPLITS:
        ann = paths[f"{split}_ann"]
        if not ann.is_file():
            return False
        with open(ann, "rb") as f:
            dataset = json.load(f)
        if dataset.get("info") != json.loads(json.dumps(_info(profile, seed, split))):
            return False
        if not all((paths[f"{split}_img_dir"] / img["file_name"]).is_file() for img in dataset["images"]):
            return False
    return True


def generate(profile: str, out_dir: str | os.PathLike, seed: int = 0, workers: int | None = None) -> dict:
    """Write DATA_ROOT/annotations/{train,val}.json and DATA_ROOT/{train,val}/*.png for a profile.

    Skips the work if the outputs already exist for the same profile, seed and generator version.
    workers: processes for rendering (default: all CPUs for profiles above 200 images, else 1); the output
    does not depend on it. Returns {"root", "train_ann", "val_ann", "train_img_dir", "val_img_dir"} paths
    and "generated" (False if skipped).
    """
    prof = _get_profile(profile)
    root = Path(out_dir)
    paths = _paths(root)
    if _up_to_date(root, prof, seed):
        return {**paths, "generated": False}
    total = prof.num_train + prof.num_val
    if workers is None:
        workers = (os.cpu_count() or 1) if total > 200 else 1
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split, count in (("train", prof.num_train), ("val", prof.num_val)):
        image_dir = paths[f"{split}_img_dir"]
        image_dir.mkdir(parents=True, exist_ok=True)
        jobs = [(prof, seed, split, index, str(image_dir)) for index in range(count)]
        desc = f"synth {prof.name} {split}"
        if workers > 1:
            # spawn, not fork: forking a process that already runs threads (torch, tqdm, a test session) can
            # deadlock the pool's queues
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=cv2.setNumThreads, initargs=(1,)) as pool:
                per_image = list(tqdm(pool.map(_write_image, jobs, chunksize=16), total=count, desc=desc))
        else:
            per_image = [_write_image(job) for job in tqdm(jobs, desc=desc)]
        images, annotations = [], []
        for index, anns in enumerate(per_image):
            images.append({"id": index + 1, "file_name": _file_name(index), "width": prof.image_size,
                           "height": prof.image_size})
            for ann in anns:
                annotations.append({"id": len(annotations) + 1, "image_id": index + 1, **ann})
        dataset = {"info": _info(prof, seed, split), "images": images, "annotations": annotations,
                   "categories": [dict(cat) for cat in CATEGORIES]}
        write_json_atomic(paths[f"{split}_ann"], dataset)
    return {**paths, "generated": True}
