"""tspsis.apis without a model: given boxes read from each kind of box source, predictions to COCO records, and the
box-conditioned track recognised in a config, and a test request moved onto the ground-truth boxes."""
import json
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from pycocotools import mask as mask_util

from tspsis.apis import BOX_TRACK_MIXIN, box_conditioned, coco_records, collect_images, on_given_boxes, read_boxes
from tspsis.apis.tracks import is_box_conditioned
from tspsis.core.paths import CONFIGS
from tspsis.engine.request import RunRequest

LEAF = CONFIGS / "mask_rcnn" / "psis-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"


def _images(folder: Path, *names: str) -> list[Path]:
    for name in names:
        (folder / name).write_bytes(b"")
    return [folder / name for name in names]


def test_a_coco_box_file_gives_xyxy_boxes_per_image_without_crowds(tmp_path):
    images = _images(tmp_path, "a.png", "b.png")
    coco = dict(images=[dict(id=7, file_name="a.png", width=40, height=30), dict(id=9, file_name="b.png")],
                categories=[dict(id=3, name="disc"), dict(id=5, name="ring")],
                annotations=[dict(id=1, image_id=7, category_id=3, bbox=[1, 2, 10, 5]),
                             dict(id=2, image_id=7, category_id=5, bbox=[0, 0, 4, 4], iscrowd=1),
                             dict(id=3, image_id=9, category_id=5, bbox=[5, 5, 2, 3])])
    (tmp_path / "boxes.json").write_text(json.dumps(coco))
    source = read_boxes(tmp_path / "boxes.json", images)
    a, b = source.per_image[images[0]], source.per_image[images[1]]
    assert (a.boxes, a.labels, a.image_id, a.size) == ([[1.0, 2.0, 11.0, 7.0]], ["disc"], 7, (40, 30))
    assert (b.boxes, b.labels, b.image_id, b.size) == ([[5.0, 5.0, 7.0, 8.0]], ["ring"], 9, None)
    assert source.category_ids == {"disc": 3, "ring": 5}


def test_per_image_box_files_serve_their_image(tmp_path):
    images = _images(tmp_path, "a.png", "b.png")
    folder = tmp_path / "boxes"
    folder.mkdir()
    for image, box in zip(images, ([0, 0, 5, 5], [1, 1, 3, 4])):
        (folder / f"{image.stem}.json").write_text(json.dumps({"boxes": [box], "labels": ["disc"]}))
    source = read_boxes(folder, images)
    assert [source.per_image[i].boxes for i in images] == [[[0.0, 0.0, 5.0, 5.0]], [[1.0, 1.0, 3.0, 4.0]]]
    assert source.per_image[images[1]].fields == ["boxes[0]"] and source.category_ids == {}
    with pytest.raises(ValueError, match="a per-image box file serves one input image, got 2"):
        read_boxes(folder / "a.json", images)
    assert collect_images([tmp_path]) == images  # the folder's images, by name; boxes/ is not one


def test_coco_records_of_a_prediction():
    masks = np.zeros((2, 6, 8), bool)
    masks[0, 1:3, 2:6] = True
    masks[1, 4:, :] = True
    pred = dict(bboxes=np.array([[2.0, 1.0, 6.0, 3.0], [0.0, 4.0, 8.0, 6.0]]), labels=np.array([1, 0]),
                scores=np.array([0.9, 0.2]), masks=masks)
    records = coco_records(pred, ("disc", "ring"), (11, 12), {"disc": 40})
    assert [r["category_name"] for r in records] == ["ring", "disc"]
    assert [r["category_id"] for r in records] == [12, 40]  # a given box file's id takes precedence
    assert [r["bbox"] for r in records] == [[2.0, 1.0, 4.0, 2.0], [0.0, 4.0, 8.0, 2.0]]  # xywh
    assert [r["area"] for r in records] == [8, 16] and [r["score"] for r in records] == [0.9, 0.2]
    for record, mask in zip(records, masks):
        assert record["segmentation"]["size"] == [6, 8]
        assert np.array_equal(mask_util.decode(dict(record["segmentation"], counts=record["segmentation"]["counts"]
                                                    .encode())).astype(bool), mask)


def test_the_box_conditioned_track_is_recognised_once_merged():
    leaf = Config.fromfile(str(LEAF))
    assert not is_box_conditioned(leaf)
    assert is_box_conditioned(box_conditioned(leaf))


def test_a_test_request_on_given_boxes_is_the_training_s_with_the_track_merged_last():
    sizing = CONFIGS / "_base_" / "schedules" / "detector-cpu_1xb16.py"
    trained = RunRequest(LEAF, (sizing,), ("model.train_cfg.rcnn.sampler.num=512",
                                           "model.rpn_head.loss_cls.loss_weight=0.0"), max_iters=7, seed=3)
    tested = trained.test_of(["model.test_cfg.rcnn.max_per_img=20"])
    given = on_given_boxes(tested)
    assert not is_box_conditioned(tested.cfg) and is_box_conditioned(given.cfg)
    assert given.mixins == (sizing.resolve(), (CONFIGS / BOX_TRACK_MIXIN).resolve())  # last: over the sizing
    # the training's sampler and RPN options are left out: the track's mixin replaces both, and no test reads them
    assert given.cfg_options == ("model.test_cfg.rcnn.max_per_img=20",)
    assert given.cfg.model.train_cfg.rcnn.sampler.type == "PseudoSampler"
    assert given.cfg.model.rpn_head.type == "GroundTruthProposals"
    assert given.max_iters is None and given.seed is None
    assert given.cfg.model.test_cfg.rcnn.max_per_img == 20  # the test's own options still act
    assert on_given_boxes(given) == given  # already in the track: unchanged
    assert given.name.endswith("+detector-cpu_1xb16+box-conditioned")
