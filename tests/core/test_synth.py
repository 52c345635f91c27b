"""Synthetic benchmark generator and dataset statistics."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from tspsis.core.stats import dataset_stats, format_stats
from tspsis.core.synth import (APPEARANCES, MIN_VISIBLE_PIXELS, SHAPE_FAMILIES, SYNTH_PROFILES, VOC_CATEGORY_NAMES,
                               generate, render_sample)
from tspsis.core.validate import validate_coco
from tspsis.core.overlap import annotation_overlaps, object_overlap
from tspsis.core.splits import write_split


def _tight_box(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


@pytest.mark.parametrize("split", ["train", "val"])
def test_tiny_is_valid_coco_with_tight_boxes_and_modal_masks(tiny_synth, split):
    profile = SYNTH_PROFILES["tiny"]
    validate_coco(tiny_synth / "annotations" / f"{split}.json", tiny_synth / split)
    coco = COCO(str(tiny_synth / "annotations" / f"{split}.json"))
    assert len(coco.imgs) == (profile.num_train if split == "train" else profile.num_val)
    assert len(coco.anns) > len(coco.imgs)
    for image_id, image in coco.imgs.items():
        pixels = cv2.imread(str(tiny_synth / split / image["file_name"]), cv2.IMREAD_UNCHANGED)
        assert pixels.shape == (image["height"], image["width"], 3) == (profile.image_size,) * 2 + (3,)
        masks = [coco.annToMask(ann).astype(bool) for ann in coco.imgToAnns[image_id]]
        # modal masks of one image are disjoint: each pixel shows at most one object
        assert (np.sum(masks, axis=0) <= 1).all()
        for ann, mask in zip(coco.imgToAnns[image_id], masks):
            assert ann["iscrowd"] == 0
            assert isinstance(ann["segmentation"]["counts"], str)
            assert ann["area"] == mask.sum() >= MIN_VISIBLE_PIXELS
            assert ann["bbox"] == _tight_box(mask)
            assert mask_utils.area(coco.annToRLE(ann)) == ann["area"]


def test_categories_and_voc_list_span_shapes_and_appearances(tiny_synth):
    dataset = json.loads((tiny_synth / "annotations" / "train.json").read_text())
    cats = dataset["categories"]
    assert [c["id"] for c in cats] == list(range(1, 25))
    assert {(c["shape_family"], c["appearance"]) for c in cats} == {
        (f, a) for f in SHAPE_FAMILIES for a in APPEARANCES}
    assert len({c["name"] for c in cats}) == 24
    info = dataset["info"]
    assert (info["profile"], info["seed"]) == ("tiny", 0)
    assert info["tspsis_voc_categories"] == list(VOC_CATEGORY_NAMES)
    voc = [c for c in cats if c["name"] in VOC_CATEGORY_NAMES]
    assert len(voc) == 6
    assert {c["shape_family"] for c in voc} == set(SHAPE_FAMILIES)
    assert {c["appearance"] for c in voc} == set(APPEARANCES)


def _png_bytes(root: Path, names: list[str]) -> list[bytes]:
    return [(root / "train" / name).read_bytes() for name in names]


def test_generation_is_deterministic_and_skips_when_up_to_date(tiny_synth, tmp_path):
    names = ["000000.png", "000007.png", "000015.png"]
    ann = Path("annotations") / "train.json"
    assert generate("tiny", tmp_path / "a", seed=0)["generated"]
    assert (tmp_path / "a" / ann).read_bytes() == (tiny_synth / ann).read_bytes()
    assert (tmp_path / "a" / "annotations" / "val.json").read_bytes() == \
        (tiny_synth / "annotations" / "val.json").read_bytes()
    assert _png_bytes(tmp_path / "a", names) == _png_bytes(tiny_synth, names)

    generate("tiny", tmp_path / "b", seed=1)
    assert (tmp_path / "b" / ann).read_bytes() != (tiny_synth / ann).read_bytes()
    assert all(x != y for x, y in zip(_png_bytes(tmp_path / "b", names), _png_bytes(tiny_synth, names)))

    # same profile and seed: nothing is rewritten; another seed regenerates in place
    mtime = (tmp_path / "a" / ann).stat().st_mtime_ns
    assert not generate("tiny", tmp_path / "a", seed=0)["generated"]
    assert (tmp_path / "a" / ann).stat().st_mtime_ns == mtime
    assert generate("tiny", tmp_path / "b", seed=0)["generated"]
    assert (tmp_path / "b" / ann).read_bytes() == (tiny_synth / ann).read_bytes()


def test_parallel_generation_gives_the_same_files(tiny_synth, tmp_path):
    generate("tiny", tmp_path, seed=0, workers=2)
    for rel in ("annotations/train.json", "annotations/val.json", "train/000003.png", "val/000005.png"):
        assert (tmp_path / rel).read_bytes() == (tiny_synth / rel).read_bytes()


def test_missing_image_triggers_regeneration(tmp_path):
    generate("tiny", tmp_path, seed=0)
    (tmp_path / "val" / "000002.png").unlink()
    assert generate("tiny", tmp_path, seed=0)["generated"]
    assert (tmp_path / "val" / "000002.png").is_file()


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown synthetic profile 'huge'"):
        render_sample("huge", 0, "train", 0)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        render_sample("tiny", -1, "train", 0)


def test_demo_profile_has_overlap_and_every_area_bucket():
    """Issue requirement: >= 30% of objects with O >= 0.3 and all COCO area buckets populated (demo)."""
    overlaps, areas = [], []
    for index in range(40):
        sample = render_sample("demo", 0, "val", index)
        boxes = np.array([_tight_box(m) for m in sample.masks], dtype=float)
        boxes[:, 2:] += boxes[:, :2]
        overlaps += object_overlap(boxes, sample.masks).tolist()
        areas += sample.masks.sum(axis=(1, 2)).tolist()
        assert sample.image.shape == (160, 160, 3) and sample.image.dtype == np.uint8
        assert len(sample.category_ids) == len(sample.masks) >= 1
    assert np.mean(np.asarray(overlaps) >= 0.3) >= 0.3
    areas = np.asarray(areas)
    assert (areas < 32**2).any() and ((areas >= 32**2) & (areas < 96**2)).any() and (areas >= 96**2).any()
    assert areas.min() >= MIN_VISIBLE_PIXELS


def test_dataset_stats_on_tiny(tiny_synth, tmp_path):
    src = tiny_synth / "annotations" / "train.json"
    dataset = json.loads(src.read_text())
    stats = dataset_stats(src)
    assert stats["images"] == len(dataset["images"]) and stats["instances"] == len(dataset["annotations"])
    assert sum(stats["instances_per_category"].values()) == stats["instances"]
    assert sum(stats["area_buckets"].values()) == stats["instances"]
    assert stats["area_buckets"]["small"] == sum(a["area"] < 1024 for a in dataset["annotations"])
    overlaps = np.asarray(list(annotation_overlaps(dataset).values()))
    assert sum(stats["overlap"]["histogram"]) == stats["instances"]
    assert stats["overlap"]["fraction_overlapped"] == pytest.approx(np.mean(overlaps >= 0.3))
    voc = stats["coverage"]["voc"]
    assert voc["shape_family"]["fraction"] == voc["appearance"]["fraction"] == 1.0
    assert sorted(voc["seen_categories"]) == sorted(VOC_CATEGORY_NAMES)
    text = format_stats(stats)
    assert "O >= 0.3" in text and "seen set voc: 6 categories" in text
    # the unseen categories' families / appearances that a seen category has (by hand, from the seen sets of
    # tests/core/test_splits.py): voc shares both with all 18; disjoint-appearance only the family; disjoint-shape
    # every appearance but the family of 2 (checkered-, dotted-rectangle); disjoint-both: 3 x 2 seen leave 6 unseen
    # of a seen family (other appearances), 6 of a seen appearance (other families) and 6 sharing neither
    expected = {"voc": (1.0, 1.0, 0.0), "disjoint-appearance": (1.0, 0.0, 0.0),
                "disjoint-shape": (2 / 18, 1.0, 0.0), "disjoint-both": (6 / 18, 6 / 18, 6 / 18)}
    for spec, (family, appearance, neither) in expected.items():
        unseen = stats["coverage"][spec]["unseen"]
        assert unseen["categories"] == 18
        assert (unseen["shape_family"], unseen["appearance"], unseen["neither"]) == pytest.approx(
            (family, appearance, neither))
    assert stats["coverage"]["disjoint-shape"]["shape_family"]["covered"] == ["ellipse", "rectangle"]
    assert stats["coverage"]["disjoint-appearance"]["appearance"]["missing"] == ["checkered", "dotted", "striped"]
    assert ("seen set disjoint-both: 6 categories" in text
            and "of the 18 unseen categories: 33% share a seen shape_family, 33% share a seen appearance, "
                "33% share neither" in text)

    # partially annotated file + manifest of an explicit seen set covering 1 family and 2 appearances
    write_split(src, "solid-star,striped-star", tmp_path / "part.json")
    part = dataset_stats(tmp_path / "part.json", tmp_path / "part.manifest.json")
    assert part["overlap"] is None and "n/a" in format_stats(part)
    cov = part["coverage"]["manifest (solid-star,striped-star)"]
    assert cov["shape_family"]["covered"] == ["star"]
    assert cov["shape_family"]["fraction"] == pytest.approx(1 / 6)
    assert cov["appearance"]["missing"] == ["checkered", "dotted"]

    # a plain COCO file: no shape/appearance keys -> no coverage section
    for cat in dataset["categories"]:
        del cat["shape_family"], cat["appearance"]
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(dataset))
    assert "coverage" not in dataset_stats(plain)
    assert "seen set" not in format_stats(dataset_stats(plain))
