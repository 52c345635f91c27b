"""Category splits: seen-set specs and the partially annotated training file + manifest."""

import json
from pathlib import Path

import pytest

from tspsis.core.synth import CATEGORIES, VOC_CATEGORY_NAMES
from tspsis.core.validate import validate_coco
from tspsis.core.splits import (COCO_VOC_NAMES, COVERAGE_SPECS, MANIFEST_KEYS, SEEN_SPEC_PATTERN, load_manifest,
                                resolve_seen, write_split)

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


# The synthetic categories: id = 1 + 4 f + a, family f of (ellipse, rectangle, triangle, star, ring, cross),
# appearance a of (solid, striped, checkered, dotted); worked out by hand from the rules of the module docstring.
COVERAGE_SEEN = {
    "voc": ["solid-ellipse", "striped-rectangle", "checkered-triangle", "dotted-star", "solid-ring", "striped-cross"],
    "disjoint-appearance": ["solid-ellipse", "solid-rectangle", "solid-triangle", "solid-star", "solid-ring",
                            "solid-cross"],
    "disjoint-shape": ["solid-ellipse", "striped-ellipse", "checkered-ellipse", "dotted-ellipse", "solid-rectangle",
                       "striped-rectangle"],
    "disjoint-both": ["solid-ellipse", "striped-ellipse", "solid-rectangle", "striped-rectangle", "solid-triangle",
                      "striped-triangle"],
}
COVERAGE_SEEN_IDS = {"voc": [1, 6, 11, 16, 17, 22], "disjoint-appearance": [1, 5, 9, 13, 17, 21],
                     "disjoint-shape": [1, 2, 3, 4, 5, 6], "disjoint-both": [1, 2, 5, 6, 9, 10]}


@pytest.mark.parametrize("spec", ["voc", *COVERAGE_SPECS])
def test_coverage_specs_on_the_synthetic_categories(spec):
    info = {"tspsis_voc_categories": list(VOC_CATEGORY_NAMES)}
    seen = resolve_seen(CATEGORIES, spec, info)
    assert seen == COVERAGE_SEEN_IDS[spec]
    names = {cat["id"]: cat["name"] for cat in CATEGORIES}
    assert sorted(names[i] for i in seen) == sorted(COVERAGE_SEEN[spec])
    assert SEEN_SPEC_PATTERN.fullmatch(spec)
    # the order of the categories in the file does not matter, only their ids
    assert resolve_seen(list(reversed(CATEGORIES)), spec, info) == seen


def test_coverage_specs_need_shape_and_appearance_keys():
    info = {"tspsis_voc_categories": list(VOC_CATEGORY_NAMES)}
    plain = [{k: v for k, v in cat.items() if k != "appearance"} for cat in CATEGORIES]
    with pytest.raises(ValueError, match=r"^train\.json: .*field 'appearance' .*'solid-ellipse' has none$"):
        resolve_seen(plain, "disjoint-shape", info, source="train.json")
    holed = [cat for cat in CATEGORIES if cat["name"] != "dotted-cross"]
    with pytest.raises(ValueError, match="full grid"):
        resolve_seen(holed, "disjoint-both", info)
    assert not SEEN_SPEC_PATTERN.fullmatch("disjoint-colour")


def test_coverage_split_file(tiny_synth, tmp_path):
    manifest = write_split(tiny_synth / "annotations" / "train.json", "disjoint-appearance",
                           tmp_path / "train_disjoint-appearance.json")
    assert manifest["seen_spec"] == "disjoint-appearance"
    assert manifest["seen_category_names"] == COVERAGE_SEEN["disjoint-appearance"]
    assert len(manifest["unseen_category_ids"]) == 18
    assert (tmp_path / "train_disjoint-appearance.manifest.json").is_file()


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
