"""PartialCocoDataset's label order (tspsis.plugin.datasets.partial_coco): one order for names and ids whatever order a file lists
its categories in, the listing order that mmdet's CocoMetric needs in test mode, and the check that two files (the
training and the validation file) give each label to the same category."""

import json
from pathlib import Path

import pytest

pytest.importorskip("mmdet")
from mmdet.registry import DATASETS  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402

import tspsis.plugin  # noqa: E402,F401  (registers PartialCocoDataset)

register_all_modules()

IN_ID_ORDER = [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}, {"id": 5, "name": "gamma"}]
OUT_OF_ORDER = [IN_ID_ORDER[2], IN_ID_ORDER[0], IN_ID_ORDER[1]]  # gamma, alpha, beta


def write(root: Path, name: str, categories: list) -> str:
    """annotations/<name>: one 20x20 image with one box-only instance of every category."""
    anns = [{"id": i + 1, "image_id": 1, "category_id": c["id"], "bbox": [1.0, 1.0, 5.0, 5.0], "area": 25.0,
             "iscrowd": 0} for i, c in enumerate(categories)]
    coco = {"images": [{"id": 1, "file_name": "a.png", "height": 20, "width": 20}], "annotations": anns,
            "categories": categories}
    (root / "annotations").mkdir(exist_ok=True)
    (root / "annotations" / name).write_text(json.dumps(coco))
    return f"annotations/{name}"


def dataset(root: Path, ann_file: str, **kwargs):
    return DATASETS.build(dict(type="PartialCocoDataset", data_root=str(root), ann_file=ann_file,
                               data_prefix=dict(img="images/"), check_images=False, pipeline=[], **kwargs))


def labelled_names(data) -> dict:
    """{category name of each instance (by its category id): the name of its label}."""
    names = {c["id"]: c["name"] for c in IN_ID_ORDER}
    label_of = {cat_id: label for cat_id, label in data.cat2label.items()}
    return {names[cat_id]: data.metainfo["classes"][label] for cat_id, label in label_of.items()}


def test_labels_and_names_follow_the_ids_whatever_the_listing_order(tmp_path):
    for name, categories in (("ordered.json", IN_ID_ORDER), ("shuffled.json", OUT_OF_ORDER)):
        data = dataset(tmp_path, write(tmp_path, name, categories))
        assert data.metainfo["classes"] == ("alpha", "beta", "gamma")
        assert data.cat_ids == [1, 2, 5]
        assert labelled_names(data) == {"alpha": "alpha", "beta": "beta", "gamma": "gamma"}
        labels = {inst["bbox_label"] for inst in data.get_data_info(0)["instances"]}
        assert labels == {0, 1, 2}


def test_explicit_classes_set_the_label_order(tmp_path):
    ann_file = write(tmp_path, "ordered.json", IN_ID_ORDER)
    data = dataset(tmp_path, ann_file, metainfo=dict(classes=("gamma", "alpha")))
    assert data.metainfo["classes"] == ("gamma", "alpha") and data.cat_ids == [5, 1]
    assert data.cat2label == {5: 0, 1: 1}  # mmdet would give label 0 to alpha (the file's first) named gamma
    with pytest.raises(ValueError, match=r"ordered\.json: metainfo classes \['delta'\] are not categories"):
        dataset(tmp_path, ann_file, metainfo=dict(classes=("alpha", "delta")))


def test_test_mode_needs_the_listing_order_that_coco_metric_assumes(tmp_path):
    assert len(dataset(tmp_path, write(tmp_path, "ordered.json", IN_ID_ORDER), test_mode=True)) == 1
    with pytest.raises(ValueError, match=r"shuffled\.json: lists its categories .* CocoMetric"):
        dataset(tmp_path, write(tmp_path, "shuffled.json", OUT_OF_ORDER), test_mode=True)


def test_same_categories_as_names_both_files(tmp_path):
    train = write(tmp_path, "train.json", OUT_OF_ORDER)
    val = write(tmp_path, "val.json", IN_ID_ORDER)
    assert len(dataset(tmp_path, train, same_categories_as=val)) == 1  # same categories: same labels
    assert len(dataset(tmp_path, train, same_categories_as=str(tmp_path / val))) == 1  # an absolute path
    other = write(tmp_path, "other.json", [IN_ID_ORDER[0], {"id": 3, "name": "beta"}, IN_ID_ORDER[2]])
    with pytest.raises(ValueError, match=r"train\.json and .*other\.json give the labels to different categories.*"
                                         r"label 1: \(2, 'beta'\) vs \(3, 'beta'\)"):
        dataset(tmp_path, train, same_categories_as=other)
    fewer = write(tmp_path, "fewer.json", IN_ID_ORDER[:2])
    with pytest.raises(ValueError, match="3 vs 2 categories"):
        dataset(tmp_path, train, same_categories_as=fewer)
