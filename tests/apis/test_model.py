"""tspsis.apis on a finished run's work dir: the model rebuilt from the config mmengine dumped there, one object
through the network, and the teacher-student head's explain() of objects with the shapes its docstrings say."""
import json

import pytest
import torch

from tspsis.apis import explain_objects, load_run_model
from tspsis.apis.explain import COMPARED_POST_PROCESSING
from tspsis.apis.model import through_network
from tspsis.core.io import read_json
from tspsis.core.paths import CONFIGS
from tspsis.engine.config import load_config
from tspsis.engine.work_dir import METRICS_FILE, completed_run

TS_LEAF = CONFIGS / "mask_rcnn_ts" / "ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"


@pytest.fixture(scope="module")
def ts_run(tiny_synth, tmp_path_factory, single_thread):
    """A work dir as a finished training leaves it (dumped config, checkpoint, complete metrics), with a
    teacher-student model's initial weights: what the apis read of a run, without the training."""
    from mmdet.apis import init_detector

    work_dir = tmp_path_factory.mktemp("ts-run")
    cfg = load_config(str(TS_LEAF), str(work_dir), [], data_root=tiny_synth)
    dumped = work_dir / f"{TS_LEAF.stem}.py"
    cfg.dump(str(dumped))
    torch.manual_seed(0)
    model = init_detector(cfg, device="cpu")
    checkpoint = work_dir / "iter_1.pth"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    (work_dir / METRICS_FILE).write_text(json.dumps(
        {"run": dict(dumped_config=dumped.name, checkpoint=str(checkpoint), complete=True)}))
    return completed_run(work_dir)


def test_a_runs_model_and_one_object_through_its_network(ts_run, tiny_synth):
    val = read_json(tiny_synth / "annotations" / "val.json")
    image, ann = val["images"][0], next(a for a in val["annotations"] if a["image_id"] == val["images"][0]["id"])
    model, pipeline = load_run_model(ts_run)
    assert type(model.roi_head).__name__ == "TeacherStudentRoIHead"
    with torch.no_grad():
        data, batch, feats, box = through_network(model, pipeline, tiny_synth / "val" / image["file_name"],
                                                  image["id"], ann["bbox"])
    height, width = data["data_samples"].metainfo["img_shape"]
    assert data["inputs"].shape == (3, height, width) and batch["inputs"].shape[:2] == (1, 3)
    assert all(level.shape[0] == 1 for level in feats)
    x, y, w, h = ann["bbox"]  # the synthetic configs run an image at its own size
    assert torch.allclose(box, torch.tensor([[x, y, x + w, y + h]], dtype=box.dtype))


def test_explain_objects_gives_each_objects_masks_on_the_students_grid(ts_run, tiny_synth):
    val = read_json(tiny_synth / "annotations" / "val.json")
    objects = [a for a in val["annotations"] if not a.get("iscrowd", 0)][:2]
    seen = [c["id"] for c in val["categories"] if c["id"] != objects[0]["category_id"]]
    explained = explain_objects(ts_run, val, tiny_synth / "val", objects, seen)
    assert len(explained) == 2
    for one in explained:
        grid = one.own.student.shape[-2:]
        assert one.own.teacher.shape == one.own.cleaned.shape == (1, *grid)
        assert one.own.crops.shape == (1, 3, *grid) and one.own.rois.shape == (1, 4)
        assert set(one.compared) == set(COMPARED_POST_PROCESSING)
        assert all(e.pseudo_masks.shape == (1, *grid) for e in one.compared.values())
        assert one.gt.shape == grid and one.gt.dtype == torch.bool and one.gt.any()
