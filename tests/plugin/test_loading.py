"""PartialCocoDataset + LoadPartialAnnotations + PackPartialDetInputs on a hand-written COCO file with box-only
instances, through the synthetic train pipeline of configs/_base_/datasets/synth_partial_instance.py."""

import copy
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmdet.datasets.transforms import FilterAnnotations, LoadAnnotations
from mmdet.registry import DATASETS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from tspsis.plugin.datasets.partial_coco import PartialCocoDataset
from tspsis.plugin.transforms.loading import LoadPartialAnnotations, PackPartialDetInputs
from tspsis.core.splits import write_split

register_all_modules()  # mmdet's default scope, so that config pipelines build from mmdet's registries

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
HEIGHT, WIDTH = 40, 56  # not square: a horizontal flip is not a transpose
CATEGORIES = [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}, {"id": 5, "name": "gamma"}]


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def _disc(cx: float, cy: float, radius: float) -> np.ndarray:
    y, x = np.mgrid[:HEIGHT, :WIDTH]
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def _box(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def _ann(ann_id, image_id, category_id, bbox, **extra):
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": bbox,
            "area": bbox[2] * bbox[3], "iscrowd": 0, **extra}


@pytest.fixture
def coco_root(tmp_path: Path) -> Path:
    """DATA_ROOT with annotations/train.json and 3 PNGs: polygon, RLE (compressed / uncompressed crowd) and
    box-only instances; image 3 has box-only instances only."""
    disc, crowd = _disc(40, 25, 8), _disc(12, 12, 6)
    flat = crowd.flatten(order="F").astype(np.int64)  # uncompressed RLE: column-major runs, background first
    runs = np.diff(np.concatenate(([0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]))).tolist()
    uncompressed = {"size": [HEIGHT, WIDTH], "counts": runs}
    np.testing.assert_array_equal(mask_utils.decode(mask_utils.frPyObjects(uncompressed, HEIGHT, WIDTH)), crowd)
    annotations = [
        _ann(1, 1, 1, [4.0, 5.0, 16.0, 12.0], segmentation=[[4, 5, 20, 5, 20, 17, 4, 17]]),  # polygon
        _ann(2, 1, 2, [25.0, 2.0, 10.0, 8.0]),                                          # box-only, no key
        _ann(3, 1, 5, _box(disc), segmentation=_rle(disc)),                             # compressed RLE
        _ann(4, 2, 2, [30.0, 20.0, 20.0, 15.0], segmentation=[]),                       # box-only, []
        _ann(5, 2, 1, _box(crowd), segmentation=uncompressed, iscrowd=1),
        _ann(6, 2, 5, [2.0, 25.0, 14.0, 10.0], segmentation=[[2, 25, 16, 25, 9, 35]]),   # triangle
        {"id": 7, "image_id": 3, "category_id": 1, "bbox": [5.0, 5.0, 10.0, 10.0]},      # image 3: box-only, no area
        _ann(8, 3, 5, [20.0, 10.0, 15.0, 20.0], segmentation=None),
    ]
    images = [{"id": i, "file_name": f"{i:06d}.png", "height": HEIGHT, "width": WIDTH} for i in (1, 2, 3)]
    (tmp_path / "train").mkdir()
    rng = np.random.default_rng(0)
    for image in images:
        cv2.imwrite(str(tmp_path / "train" / image["file_name"]), rng.integers(0, 255, (HEIGHT, WIDTH, 3), np.uint8))
    (tmp_path / "annotations").mkdir()
    coco = {"images": images, "annotations": annotations, "categories": CATEGORIES}
    (tmp_path / "annotations" / "train.json").write_text(json.dumps(coco))
    return tmp_path


def _dataset_cfg(root: Path, flip_prob: float, poly2mask: bool = True, scale=(WIDTH, HEIGHT), **overrides) -> dict:
    """The synthetic base config's train dataset on `root`, with Resize to `scale` (no-op) and a fixed flip."""
    cfg = Config.fromfile(str(CONFIGS / "_base_" / "datasets" / "synth_partial_instance.py"))
    dataset = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset.update({"data_root": str(root) + "/", "ann_file": "annotations/train.json", **overrides})
    pipeline = {step["type"]: step for step in dataset.pipeline}
    assert list(pipeline) == ["LoadImageFromFile", "LoadPartialAnnotations", "Resize", "RandomFlip",
                              "PackPartialDetInputs"]
    pipeline["LoadPartialAnnotations"]["poly2mask"] = poly2mask
    pipeline["Resize"]["scale"] = scale
    pipeline["RandomFlip"]["prob"] = flip_prob
    return dataset


def _expected(root: Path, image_id: int, ignored: bool, poly2mask: bool = True) -> tuple[list[dict], np.ndarray]:
    """The image's annotations that mmdet keeps (ignored=False) or ignores, in file order, and their
    pycocotools masks (N, H, W). Ignored: crowds, and like mmdet's LoadAnnotations, RLE masks when
    poly2mask=False (PolygonMasks cannot hold them)."""
    coco = COCO(str(root / "annotations" / "train.json"))
    anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
            if ignored == bool(a.get("iscrowd") or (not poly2mask and isinstance(a.get("segmentation"), dict)))]
    masks = [coco.annToMask(a) if a.get("segmentation") else np.zeros((HEIGHT, WIDTH), np.uint8) for a in anns]
    return anns, np.array(masks, dtype=np.uint8).reshape(-1, HEIGHT, WIDTH)


def test_dataset_keeps_box_only_instances_and_images(coco_root):
    dataset = DATASETS.build(_dataset_cfg(coco_root, flip_prob=0.0))
    assert isinstance(dataset, PartialCocoDataset)
    assert dataset.metainfo["classes"] == ("alpha", "beta", "gamma")  # from the file, not COCO's 80
    assert len(dataset.metainfo["palette"]) == 3
    assert len(dataset) == 3  # image 3 (box-only instances only) passes filter_empty_gt
    has_mask = {dataset.get_data_info(i)["img_id"]: [inst["has_mask"] for inst in dataset.get_data_info(i)["instances"]]
                for i in range(len(dataset))}
    assert has_mask == {1: [True, False, True], 2: [False, True, True], 3: [False, False]}


@pytest.mark.parametrize("poly2mask", [True, False])
def test_items_carry_has_mask_and_masks_equal_pycocotools(coco_root, poly2mask):
    dataset = DATASETS.build(_dataset_cfg(coco_root, flip_prob=0.0, poly2mask=poly2mask))
    for index in range(len(dataset)):
        item = dataset[index]
        sample = item["data_samples"]
        image_id = sample.img_id
        assert sample.flip is False and tuple(item["inputs"].shape) == (3, HEIGHT, WIDTH)
        for instances, ignored in ((sample.gt_instances, False), (sample.ignored_instances, True)):
            anns, masks = _expected(coco_root, image_id, ignored, poly2mask)
            assert instances.has_mask.dtype == torch.bool
            assert instances.has_mask.tolist() == [bool(a.get("segmentation")) for a in anns]
            assert instances.labels.tolist() == [dataset.cat2label[a["category_id"]] for a in anns]
            xywh = np.array([a["bbox"] for a in anns], dtype=np.float32).reshape(-1, 4)
            np.testing.assert_allclose(instances.bboxes.tensor.numpy(),
                                       np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1))
            if not (ignored and not poly2mask):  # mmdet's placeholder polygon stands in for ignored RLE masks
                np.testing.assert_array_equal(instances.masks.to_ndarray(), masks)  # box-only rows: all zero


def test_flip_keeps_instances_aligned(coco_root):
    dataset = DATASETS.build(_dataset_cfg(coco_root, flip_prob=1.0))
    sample = dataset[0]["data_samples"]
    assert sample.flip is True and sample.flip_direction == "horizontal"
    anns, masks = _expected(coco_root, sample.img_id, ignored=False)
    gt = sample.gt_instances
    assert gt.has_mask.tolist() == [True, False, True]
    np.testing.assert_array_equal(gt.masks.to_ndarray(), masks[:, :, ::-1])
    x, y, w, h = np.array([a["bbox"] for a in anns], dtype=np.float32).T
    np.testing.assert_allclose(gt.bboxes.tensor.numpy(), np.stack([WIDTH - (x + w), y, WIDTH - x, y + h], 1))


def test_stock_load_annotations_raises_on_box_only_instances(coco_root):
    """Why LoadPartialAnnotations exists: mmdet 3.3 reads instance['mask'] for every instance."""
    dataset = DATASETS.build(_dataset_cfg(coco_root, flip_prob=0.0))
    results = dataset.get_data_info(0)
    results["ori_shape"] = (HEIGHT, WIDTH)
    with pytest.raises(KeyError, match="mask"):
        LoadAnnotations(with_bbox=True, with_mask=True)(copy.deepcopy(results))
    loaded = LoadPartialAnnotations(with_bbox=True, with_mask=False)(copy.deepcopy(results))
    assert loaded["gt_has_mask"].dtype == np.bool_ and loaded["gt_has_mask"].tolist() == [True, False, True]
    assert "gt_masks" not in loaded


def test_pack_refuses_instances_dropped_by_an_unsafe_transform(coco_root):
    """FilterAnnotations drops the empty-mask (box-only) instances but not their gt_has_mask entries."""
    dataset = DATASETS.build(_dataset_cfg(coco_root, flip_prob=0.0))
    results = dataset.get_data_info(0)
    results["ori_shape"] = (HEIGHT, WIDTH)
    loaded = LoadPartialAnnotations(with_bbox=True, with_mask=True)(results)
    filtered = FilterAnnotations(by_box=False, by_mask=True)(loaded)
    assert len(filtered["gt_bboxes"]) == 2 and len(filtered["gt_has_mask"]) == 3
    with pytest.raises(ValueError, match="gt_has_mask has 3 entries but gt_bboxes has 2"):
        PackPartialDetInputs()(filtered)


def test_explicit_classes_and_validation_errors(coco_root):
    dataset = DATASETS.build(_dataset_cfg(coco_root, flip_prob=0.0, metainfo=dict(classes=("gamma", "alpha"))))
    assert dataset.metainfo["classes"] == ("gamma", "alpha")
    labels = [inst["bbox_label"] for i in range(len(dataset)) for inst in dataset.get_data_info(i)["instances"]]
    assert sorted(set(labels)) == [0, 1]  # beta's instances are not loaded
    (coco_root / "train" / "000002.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"train\.json: image 2: file_name '000002\.png' not found"):
        DATASETS.build(_dataset_cfg(coco_root, flip_prob=0.0))
    assert len(DATASETS.build(_dataset_cfg(coco_root, flip_prob=0.0, check_images=False))) == 3


def test_split_of_the_synthetic_benchmark_loads(tiny_synth, tmp_path):
    """A real `tspsis split --seen voc` file: has_mask is True exactly for the voc-like (seen) categories."""
    manifest = write_split(tiny_synth / "annotations" / "train.json", "voc", tmp_path / "train_voc.json")
    size = json.loads((tiny_synth / "annotations" / "train.json").read_text())["images"][0]["width"]
    dataset = DATASETS.build(_dataset_cfg(tiny_synth, flip_prob=0.5, scale=(size, size),
                                          ann_file=str(tmp_path / "train_voc.json")))
    assert len(dataset.metainfo["classes"]) == 24
    seen_labels = {dataset.cat2label[i] for i in manifest["seen_category_ids"]}
    num_box_only = 0
    for index in range(len(dataset)):
        gt = dataset[index]["data_samples"].gt_instances
        expected = [label in seen_labels for label in gt.labels.tolist()]
        assert gt.has_mask.tolist() == expected
        assert not gt.masks.to_ndarray()[~gt.has_mask.numpy()].any()
        num_box_only += len(expected) - sum(expected)
    assert num_box_only > 0
