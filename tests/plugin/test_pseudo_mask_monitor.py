"""PseudoMaskMonitorHook: IoU of the pseudo masks with the unseen ground truth, from the full file, never fed back."""
import dataclasses
import json
import shutil
import types

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from tspsis.plugin.hooks.pseudo_mask_monitor import PseudoMaskMonitorHook, pseudo_mask_iou
from tspsis.plugin.roi_heads.teacher_student import PseudoMasks


def test_pseudo_mask_iou_by_hand():
    a = torch.zeros(3, 4, 4, dtype=torch.bool)
    b = torch.zeros(3, 4, 4, dtype=torch.bool)
    a[0, :2], b[0, :, :2] = True, True        # 4 common pixels of 8 + 8 - 4 = 12
    a[1], b[1] = True, False                  # disjoint
    torch.testing.assert_close(pseudo_mask_iou(a, b), torch.tensor([4 / 12, 0.0, 1.0]))  # both empty: 1


def _one_object_file(tmp_path, height=40, width=60):
    mask = np.zeros((height, width), np.uint8)
    mask[10:30, 5:25] = 1           # the object fills the left half of its box (5, 10, 45, 30)
    rle = mask_utils.encode(np.asfortranarray(mask))
    rle["counts"] = rle["counts"].decode()
    path = tmp_path / "train.json"
    path.write_text(json.dumps({
        "images": [{"id": 7, "file_name": "a.png", "height": height, "width": width}],
        "categories": [{"id": 3, "name": "c3"}, {"id": 9, "name": "c9"}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 9, "bbox": [5, 10, 40, 20], "area": 400,
                         "iscrowd": 0, "segmentation": rle}]}))
    return path, mask


@pytest.mark.parametrize("flip", [False, True])
def test_the_hook_scores_pseudo_masks_against_the_file_in_the_training_frame(tmp_path, flip):
    path, mask = _one_object_file(tmp_path)
    hook = PseudoMaskMonitorHook(interval=1, ann_file=str(path))
    dataset = types.SimpleNamespace(data_root=str(tmp_path), cat_ids=[3, 9])
    hook.before_train(types.SimpleNamespace(train_dataloader=types.SimpleNamespace(dataset=dataset)))
    box = torch.tensor([[5.0, 10.0, 45.0, 30.0]])
    if flip:  # the training image was flipped: so are the RoI and what the pseudo mask covers
        box = torch.tensor([[60 - 45.0, 10.0, 60 - 5.0, 30.0]])
    left, right = torch.zeros(1, 28, 28, dtype=torch.bool), torch.zeros(1, 28, 28, dtype=torch.bool)
    left[:, :, :14], right[:, :, 14:] = True, True
    right_pseudo, wrong_pseudo = (left, right) if not flip else (right, left)
    meta = {"img_id": 7, "img_shape": (40, 60), "flip": flip, "flip_direction": "horizontal"}
    samples = [types.SimpleNamespace(metainfo=meta)]
    for pseudo, expected in ((right_pseudo, 1.0), (wrong_pseudo, 0.0)):
        masks = PseudoMasks(box, torch.tensor([0]), torch.tensor([1]), pseudo)
        truth = hook._ground_truth(masks, samples, (28, 28))
        assert float(pseudo_mask_iou(pseudo, truth)) == pytest.approx(expected, abs=0.05)


def test_a_missing_file_is_named(tmp_path):
    hook = PseudoMaskMonitorHook(ann_file="annotations/nope.json")
    dataset = types.SimpleNamespace(data_root=str(tmp_path), cat_ids=[1])
    with pytest.raises(FileNotFoundError, match="nope.json"):
        hook.before_train(types.SimpleNamespace(train_dataloader=types.SimpleNamespace(dataset=dataset)))


@pytest.mark.slow  # trains
def test_a_teacher_student_training_logs_the_pseudo_mask_iou(tiny_synth, tmp_path, single_thread):
    from tspsis import lab as experiments
    from tspsis.core.io import write_json_atomic
    from tspsis.engine import runner

    shutil.copytree(tiny_synth, tmp_path / "data")
    data_root = experiments.prepare_data("tiny", tmp_path / "data")["root"]
    run = experiments.resolve("Mask R-CNN + ours", "voc2nonvoc", profile="tiny", data_root=data_root,
                              work_dir=tmp_path, max_iters=2)
    run.pretrained.train()
    request = dataclasses.replace(run.request, cfg_options=(*run.cfg_options, "custom_hooks.0.interval=1"))
    (tmp_path / "w").mkdir()
    write_json_atomic(tmp_path / "w" / "request.json", request.record())
    runner.main(["train", str(tmp_path / "w" / "request.json"), "--work-dir", str(tmp_path / "w")])
    # read from the run's own message hub (metrics.json's training block), not from vis_data/scalars.json: in the
    # full test session that file once lacked the value the run's log showed (an in-process runner after others)
    summary = json.loads((tmp_path / "w" / "metrics.json").read_text())["training"]["pseudo_mask_iou"]
    assert summary["measurements"] >= 1 and 0.0 <= summary["mean"] <= 100.0


def test_the_summary_averages_the_measurements_of_the_last_iterations():
    from mmengine.logging import MessageHub

    from tspsis.plugin.hooks.training_summary import TRAINING_SUMMARY_INFO

    runner = types.SimpleNamespace(message_hub=MessageHub("pseudo-mask-summary"))
    for value in (10.0, 20.0, 40.0, 60.0):  # one measurement every 25 iterations
        runner.message_hub.update_scalar("train/pseudo_mask_iou", value)
    runner.message_hub.update_info(TRAINING_SUMMARY_INFO, {"teacher_fg_ratio": {"mean": 0.5}})  # another hook's
    PseudoMaskMonitorHook(interval=25, summary_iters=50).after_train(runner)  # the last 50 iterations: 2 values
    assert runner.message_hub.get_info(TRAINING_SUMMARY_INFO) == {
        "teacher_fg_ratio": {"mean": 0.5}, "pseudo_mask_iou": {"mean": 50.0, "measurements": 2}}
    silent = types.SimpleNamespace(message_hub=MessageHub("no-pseudo-masks"))  # the baseline, the Oracle
    PseudoMaskMonitorHook().after_train(silent)
    assert silent.message_hub.get_info(TRAINING_SUMMARY_INFO) is None
