"""validate_coco: every bad input gives an error naming the file, the record id and the field; box-only is valid.
check_choice: one message for every layer's options."""

import copy
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from tspsis.core import validate
from tspsis.core.validate import check_choice, parse_rle_strings, rle_string_counts, validate_coco

HEIGHT, WIDTH = 20, 30


def _rect_mask(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


def _compressed_rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def _uncompressed_rle(mask: np.ndarray) -> dict:
    flat = mask.flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0] + runs  # COCO RLE starts with a (possibly empty) background run
    return {"size": [HEIGHT, WIDTH], "counts": runs}


def _valid_coco() -> dict:
    """Two images, two categories; instances with polygon, compressed/uncompressed RLE and box-only forms."""
    return {
        "images": [{"id": 1, "file_name": "a.png", "height": HEIGHT, "width": WIDTH},
                   {"id": 2, "file_name": "b.png", "height": HEIGHT, "width": WIDTH}],
        "categories": [{"id": 1, "name": "seen-thing"}, {"id": 7, "name": "unseen-thing"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [2, 3, 8, 6], "area": 30.0, "iscrowd": 0,
             "segmentation": [[2, 3, 10, 3, 10, 9, 2, 9]]},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [12, 4, 6, 5], "area": 30, "iscrowd": 0,
             "segmentation": _compressed_rle(_rect_mask(12, 4, 18, 9))},
            {"id": 12, "image_id": 2, "category_id": 1, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": 1,
             "segmentation": _uncompressed_rle(_rect_mask(0, 0, 5, 5))},
            {"id": 17, "image_id": 2, "category_id": 7, "bbox": [3.0, 4.0, 5.0, 5.0], "area": 25.0, "iscrowd": 0},
            {"id": 18, "image_id": 2, "category_id": 7, "bbox": [10, 10, 4, 4], "segmentation": []},
            {"id": 19, "image_id": 1, "category_id": 7, "bbox": [20, 10, 4, 4], "segmentation": None},
        ],
    }


def _write(tmp_path, data, name="train_voc.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _ann(data: dict, ann_id: int) -> dict:
    return next(ann for ann in data["annotations"] if ann["id"] == ann_id)


def test_valid_file_with_box_only_instances_passes_and_is_returned_unchanged(tmp_path):
    data = _valid_coco()
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").write_bytes(b"")
    assert validate_coco(_write(tmp_path, data), tmp_path) == data


def _set(ann_id, key, value):
    def mutate(data):
        _ann(data, ann_id)[key] = value
    return mutate


def _drop(ann_id, key):
    def mutate(data):
        del _ann(data, ann_id)[key]
    return mutate


def _set_rle(ann_id, key, value):
    def mutate(data):
        _ann(data, ann_id)["segmentation"][key] = value
    return mutate


_TRUNCATED = _compressed_rle(_rect_mask(12, 4, 18, 9))["counts"][:-2]  # runs cover fewer pixels


@pytest.mark.parametrize("mutate, expected", [
    (_set(17, "bbox", [3.0, 4.0, 0.0, 5.0]),
     "annotation 17: bbox has non-positive width/height [3.0, 4.0, 0.0, 5.0]"),
    (_set(17, "bbox", [3.0, 4.0, 5.0, -1]), "annotation 17: bbox has non-positive width/height"),
    (_set(17, "bbox", [3.0, 4.0, 5.0]), "annotation 17: bbox must be a list of 4 finite numbers"),
    (_set(17, "bbox", [3.0, "4", 5.0, 5.0]), "annotation 17: bbox must be a list of 4 finite numbers"),
    (_set(17, "bbox", [3.0, 4.0, float("nan"), 5.0]), "annotation 17: bbox must be a list of 4 finite numbers"),
    (_drop(17, "bbox"), "annotation 17: bbox must be a list of 4 finite numbers"),
    (_set(17, "category_id", 99), "annotation 17: category_id 99 is not an id in 'categories'"),
    (_set(17, "image_id", 5), "annotation 17: image_id 5 is not an id in 'images'"),
    (_set(17, "image_id", [1]), "annotation 17: image_id [1] is not an id in 'images'"),
    (_set(17, "area", -3), "annotation 17: area must be a non-negative number"),
    (_set(17, "iscrowd", 2), "annotation 17: iscrowd must be 0 or 1"),
    (_set(10, "segmentation", [[2, 3, 10, 3, 10]]), "annotation 10: segmentation polygon 0 has 5 numbers"),
    (_set(10, "segmentation", [[2, 3, 10, 3]]), "annotation 10: segmentation polygon 0 has 4 numbers"),
    (_set(10, "segmentation", [[2, 3, 10, 3, 10, 9], [1, 1, "x", 2, 3, 3]]),
     "annotation 10: segmentation polygon 1 has a non-numeric"),
    (_set(10, "segmentation", [2, 3, 10, 3, 10, 9]), "annotation 10: segmentation must be a list of polygons"),
    (_set(10, "segmentation", "abc"), "annotation 10: segmentation must be a list of polygons or an RLE"),
    (_set(11, "segmentation", {"size": [HEIGHT, WIDTH]}), "annotation 11: segmentation RLE is missing ['counts']"),
    (_set(11, "segmentation", {"counts": "PP0"}), "annotation 11: segmentation RLE is missing ['size']"),
    (_set_rle(11, "size", [WIDTH, HEIGHT]), "annotation 11: segmentation RLE size [30, 20] does not match"),
    (_set_rle(11, "counts", "a~b"), "annotation 11: segmentation RLE counts is not a valid compressed RLE"),
    (_set_rle(11, "counts", _TRUNCATED), "annotation 11: segmentation RLE counts cover"),
    (_set_rle(11, "counts", 17), "annotation 11: segmentation RLE counts must be a compressed string or a list"),
    (_set_rle(12, "counts", [5, 3]), "annotation 12: segmentation RLE counts cover 8 pixels, expected height"),
    (_set_rle(12, "counts", [HEIGHT * WIDTH + 5, -5]), "annotation 12: segmentation RLE counts has a negative run"),
    (_set_rle(12, "counts", [HEIGHT * WIDTH - 0.5, 0.5]), "annotation 12: segmentation RLE counts must be"),
])
def test_bad_annotation_names_file_annotation_and_field(tmp_path, mutate, expected):
    data = _valid_coco()
    mutate(data)
    with pytest.raises(ValueError) as error:
        validate_coco(_write(tmp_path, data))
    assert "train_voc.json: " in str(error.value)
    assert expected in str(error.value)


def test_duplicate_annotation_id(tmp_path):
    data = _valid_coco()
    _ann(data, 18)["id"] = 17
    with pytest.raises(ValueError, match=r"train_voc\.json: annotation 17: id is used by another annotation"):
        validate_coco(_write(tmp_path, data))


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["images"][1].update(id=1), "image 1: id is used by another image"),
    (lambda d: d["images"][1].update(id="2"), "images[1]: id must be an integer, got '2'"),
    (lambda d: d["images"][1].pop("height"), "image 2: height must be a positive integer, got None"),
    (lambda d: d["images"][1].update(width=0), "image 2: width must be a positive integer, got 0"),
    (lambda d: d["images"][0].update(file_name=""), "image 1: file_name must be a non-empty string"),
    (lambda d: d["categories"][1].update(id=1), "category 1: id is used by another category"),
    (lambda d: d["categories"][1].update(name="seen-thing"), "category 7: name 'seen-thing' is used by another"),
    (lambda d: d["annotations"].append(7), "annotations[6] must be an object, got int"),
])
def test_bad_image_or_category_names_record_and_field(tmp_path, mutate, expected):
    data = _valid_coco()
    mutate(data)
    with pytest.raises(ValueError) as error:
        validate_coco(_write(tmp_path, data))
    assert str(error.value).startswith(str(tmp_path / "train_voc.json") + ": ")
    assert expected in str(error.value)


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: [1, 2], "top level must be a JSON object, got list"),
    (lambda d: {k: v for k, v in d.items() if k != "annotations"}, "missing 'annotations'"),
    (lambda d: {k: v for k, v in d.items() if k != "categories"}, "missing 'categories'"),
    (lambda d: {**d, "images": {"1": {}}}, "'images' must be a list, got dict"),
])
def test_not_a_coco_file(tmp_path, mutate, expected):
    with pytest.raises(ValueError) as error:
        validate_coco(_write(tmp_path, mutate(_valid_coco())))
    assert "train_voc.json: " in str(error.value) and expected in str(error.value)


def test_invalid_json_reports_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"images": [],\n  "annotations": [,]\n}')
    with pytest.raises(ValueError, match=r"broken\.json: invalid JSON at line 2 column 19"):
        validate_coco(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.json: annotation file not found"):
        validate_coco(tmp_path / "missing.json")
    with pytest.raises(ValueError, match=r"cannot read annotation file"):
        validate_coco(tmp_path)  # a directory
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"images": "\xe9"}'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.json: not UTF-8"):
        validate_coco(latin)


def test_missing_image_files(tmp_path):
    path = _write(tmp_path, _valid_coco())
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"train_voc\.json: image 2: file_name 'b\.png' not found under"):
        validate_coco(path, tmp_path)
    (tmp_path / "a.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"image 1: file_name 'a\.png' .*and 1 more missing images"):
        validate_coco(path, tmp_path)
    assert validate_coco(path, tmp_path, check_images=False)["images"][0]["id"] == 1
    assert validate_coco(path)["images"][0]["id"] == 1  # no image_root: images not checked


def test_rle_strings_parse_to_pycocotools_runs():
    """The runs of random masks' compressed strings rebuild exactly the mask pycocotools decodes."""
    rng = np.random.default_rng(0)
    masks = []
    for index in range(60):
        height, width = rng.integers(1, 50, size=2)
        mask = (rng.random((height, width)) < rng.random()).astype(np.uint8)
        if index % 5 == 0:
            mask[:] = index % 2  # all background / all foreground (single run, or empty first run)
        masks.append(mask)
    strings = [mask_utils.encode(np.asfortranarray(mask))["counts"].decode("ascii") for mask in masks]
    runs, owner, malformed = parse_rle_strings(strings)
    assert not malformed.any()
    for index, (mask, string) in enumerate(zip(masks, strings)):
        own_runs = runs[owner == index]
        np.testing.assert_array_equal(own_runs, rle_string_counts(string))
        flat = np.repeat(np.arange(own_runs.size) % 2, own_runs).astype(np.uint8)
        rle = {"size": list(mask.shape), "counts": string.encode("ascii")}
        np.testing.assert_array_equal(flat.reshape(mask.shape[::-1]).T, mask_utils.decode(rle))


def test_malformed_rle_strings():
    good = _compressed_rle(_rect_mask(12, 4, 18, 9))["counts"]
    _, _, malformed = parse_rle_strings([good, "a~", good[:-1] + "o", "\u00e9", "", good])
    assert malformed.tolist() == [False, True, True, True, False, False]  # "" has no runs: caught by the total
    assert rle_string_counts("") is not None and rle_string_counts("").size == 0
    assert rle_string_counts("o" * 13 + "0") is None  # overlong run


def test_compressed_rles_checked_across_chunks(tmp_path, monkeypatch):
    """An undecodable string in a later chunk of the vectorised check is reported with its own annotation id."""
    monkeypatch.setattr(validate, "_RLE_STRINGS_PER_CHUNK", 2)
    data = _valid_coco()
    for ann_id in range(100, 105):
        ann = copy.deepcopy(_ann(data, 11))
        ann["id"] = ann_id
        data["annotations"].append(ann)
    _ann(data, 103)["segmentation"]["counts"] = _TRUNCATED
    with pytest.raises(ValueError, match=r"train_voc\.json: annotation 103: segmentation RLE counts cover"):
        validate_coco(_write(tmp_path, data))


def test_check_choice_names_the_option_its_owner_and_the_choices():
    check_choice("track", "detector", ("detector", "box_conditioned"))
    check_choice("profile", "tiny", {"tiny": 1, "demo": 2})  # a mapping's keys are its choices
    with pytest.raises(ValueError, match=r"^`track` must be one of \('detector', 'box_conditioned'\), got 'box'$"):
        check_choice("track", "box", ("detector", "box_conditioned"))
    with pytest.raises(ValueError, match=r"^PartialRoIHead: `mask_roi_source` must be one of \('sampled',"):
        check_choice("mask_roi_source", "proposals", ("sampled", "gt_boxes"), owner="PartialRoIHead")
