"""Category splits: seen-set specs and the partially annotated training file + manifest."""

import json
from pathlib import Path

import pytest

from tspsis.core.synth import VOC_CATEGORY_NAMES
from tspsis.core.validate import validate_coco
from tspsis.core.splits import COCO_VOC_NAMES, MANIFEST_KEYS, load_manifest, resolve_seen, write_split

# COCO ids of the VOC names (docs/DESIGN.md) and a few non-voc COCO categories listed out of id order
COCO_VOC_IDS = (1, 2, 3, 4, 5, 6, 7, 9, 16, 17, 18, 19, 20, 21, 44, 62, 63, 64, 67, 72)
COCO_NONVOC = (("laptop", 73), ("backpack", 27), ("toilet", 70), ("handbag", 31), ("umbrella", 28))


def _coco_like_categories() -> list[dict]:
    cats = [{"id": i, "name": n} for n, i in COCO_NONVOC[:3]]
    cats += [{"id": i, "name": n} for n, i in zip(COCO_VOC_NAMES, COCO_VOC_IDS)]
    return cats + [{"id": i, "name": n} for n, i in COCO_NONVOC[3:]]


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_voc_split_of_synthetic_file(tiny_synth, tmp_path):
    src = tiny_synth / "annotations" / "train.json"
    out = tmp_path / "train_voc.json"
    manifest = write_split(src, "voc", out)
    original, split = _load(src), _load(out)
    validate_coco(out, tiny_synth / "train")

    voc_ids = sorted(c["id"] for c in original["categories"] if c["name"] in VOC_CATEGORY_NAMES)
    assert len(voc_ids) == 6
    assert list(manifest) == list(MANIFEST_KEYS)
    assert manifest["seen_spec"] == "voc"
    assert manifest["seen_category_ids"] == voc_ids
    assert manifest["unseen_category_ids"] == sorted(set(range(1, 25)) - set(voc_ids))
    names = {c["id"]: c["name"] for c in original["categories"]}
    assert manifest["seen_category_names"] == [names[i] for i in voc_ids]
    assert manifest["unseen_category_names"] == [names[i] for i in manifest["unseen_category_ids"]]
    assert manifest["source"] == str(src.resolve())
    loaded = load_manifest(tmp_path / "train_voc.manifest.json")
    assert {key: loaded[key] for key in manifest} == manifest

    assert split["images"] == original["images"]
    assert split["categories"] == original["categories"]
    assert split["info"]["tspsis_split"]["seen_category_ids"] == voc_ids
    assert len(split["annotations"]) == len(original["annotations"])
    n_unseen = 0
    for before, after in zip(original["annotations"], split["annotations"]):
        if before["category_id"] in voc_ids:
            assert after == before  # seen: identical, mask included
        else:
            n_unseen += 1
            assert "segmentation" not in after
            assert after == {k: v for k, v in before.items() if k != "segmentation"}
            assert {"bbox", "area", "category_id", "iscrowd"} <= after.keys()
    assert 0 < n_unseen < len(original["annotations"])


def test_nonvoc_is_the_complement(tiny_synth, tmp_path):
    src = tiny_synth / "annotations" / "val.json"
    voc = write_split(src, "voc", tmp_path / "voc.json")
    nonvoc = write_split(src, "nonvoc", tmp_path / "nonvoc.json")
    assert nonvoc["seen_category_ids"] == voc["unseen_category_ids"]
    assert nonvoc["unseen_category_ids"] == voc["seen_category_ids"]
    split = _load(tmp_path / "nonvoc.json")
    assert all(("segmentation" in a) == (a["category_id"] in nonvoc["seen_category_ids"])
               for a in split["annotations"])


def test_coco_voc_and_first_k_use_ascending_ids():
    cats = _coco_like_categories()
    assert resolve_seen(cats, "voc") == sorted(COCO_VOC_IDS)
    assert resolve_seen(cats, "nonvoc") == [27, 28, 31, 70, 73]
    assert resolve_seen(cats, "first-0") == sorted(COCO_VOC_IDS)
    assert resolve_seen(cats, "first-2") == sorted(COCO_VOC_IDS + (27, 28))
    assert resolve_seen(cats, "first-5") == sorted(c["id"] for c in cats)
    with pytest.raises(ValueError, match="asks for 6 non-voc categories"):
        resolve_seen(cats, "first-6")


def test_explicit_list_and_unknown_name():
    cats = _coco_like_categories()
    assert resolve_seen(cats, "laptop, potted plant,person") == [1, 64, 73]
    with pytest.raises(ValueError, match=r"coco\.json: seen category 'sofa' is not in 'categories'"):
        resolve_seen(cats, "person,sofa", source="coco.json")
    with pytest.raises(ValueError, match="empty seen spec"):
        resolve_seen(cats, " , ")


def test_voc_needs_a_voc_list(tmp_path):
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    with pytest.raises(ValueError, match="voc list"):
        resolve_seen(cats, "voc")
    assert resolve_seen(cats, "b") == [2]
    assert resolve_seen(cats, "nonvoc", info={"tspsis_voc_categories": ["a"]}) == [2]


def test_write_split_errors(tiny_synth, tmp_path):
    src = tiny_synth / "annotations" / "train.json"
    with pytest.raises(FileNotFoundError, match="missing.json"):
        write_split(tmp_path / "missing.json", "voc", tmp_path / "out.json")
    with pytest.raises(ValueError, match="must end with .json"):
        write_split(src, "voc", tmp_path / "out.txt")
    with pytest.raises(ValueError, match=r"train\.json: seen category 'nope'"):
        write_split(src, "nope", tmp_path / "out.json")
    bad = _load(src)
    bad["annotations"][0]["category_id"] = 99
    bad_path = tmp_path / "bad.json"
    bad_path.write_text(json.dumps(bad))
    ann_id = bad["annotations"][0]["id"]
    with pytest.raises(ValueError, match=rf"bad\.json: annotation {ann_id}: category_id 99"):
        write_split(bad_path, "voc", tmp_path / "out.json")
    del bad["categories"]
    bad_path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="bad.json: missing 'categories'"):
        write_split(bad_path, "voc", tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_load_manifest_checks_keys(tmp_path):
    path = tmp_path / "m.manifest.json"
    path.write_text(json.dumps({"seen_spec": "voc"}))
    with pytest.raises(ValueError, match="m.manifest.json: field 'seen_category_ids'"):
        load_manifest(path)
    with pytest.raises(FileNotFoundError):
        load_manifest(tmp_path / "none.json")
