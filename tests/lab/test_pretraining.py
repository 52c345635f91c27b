"""The shared pre-training (tspsis.lab.PRETRAINING): boxes and labels only, trained once, loaded by every row."""
import json
import shutil

import pytest
import torch

from tspsis import lab as experiments
from tspsis.engine.config import load_config

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def data(tiny_synth, tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-pretraining")
    shutil.copytree(tiny_synth, root, dirs_exist_ok=True)
    return experiments.prepare_data("tiny", root)


def test_the_pretraining_reads_no_mask_and_has_no_mask_head(data):
    pretraining = experiments.pretraining("tiny", data["root"])
    cfg = load_config(str(pretraining.config), "W", list(pretraining.cfg_options), str(data["root"]),
                      pretraining.max_iters, [str(m) for m in pretraining.mixins])
    assert cfg.model.roi_head.mask_head is None and cfg.model.roi_head.mask_roi_extractor is None
    loads = [t for step in cfg.train_dataloader.dataset.pipeline for t in step.get("transforms", [step])
             if t["type"] == "LoadPartialAnnotations"]
    assert [t["with_mask"] for t in loads] == [False]
    assert cfg.get("test_evaluator") is None  # the weights are the product: no test pass
    assert pretraining.work_dir.parent == data["root"] / "pretrained"  # cached next to the data
    assert experiments.pretraining("tiny", data["root"]) is pretraining  # resolved once per data state


def test_every_trained_row_starts_from_the_pretraining(data, tmp_path):
    row = experiments.resolve("Mask R-CNN + ours", "nonvoc2voc", profile="tiny", data_root=data["root"],
                              work_dir=tmp_path)
    assert row.pretrained == experiments.pretraining("tiny", data["root"])  # one for both directions
    assert f"+model.init_cfg.checkpoint={row.pretrained.final_checkpoint}" in row.cfg_options
    assert experiments.resolve("Mask GrabCut", "voc2nonvoc", profile="tiny", data_root=data["root"],
                               work_dir=tmp_path).pretrained is None  # nothing of it trains
    assert experiments.pretraining("tiny", data["root"]).pretrained is None


@pytest.mark.slow  # trains
def test_a_row_trains_the_pretraining_first_and_loads_its_weights(data, tmp_path):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    row = experiments.resolve("Oracle", "voc2nonvoc", profile="tiny", data_root=data["root"], work_dir=tmp_path)
    row.train()
    checkpoint = row.pretrained.final_checkpoint
    assert checkpoint.is_file()
    assert json.loads((row.work_dir / "experiment.json").read_text())["pretrained"] == str(checkpoint)

    register_all_modules(init_default_scope=True)
    cfg = load_config(str(row.config), str(tmp_path / "w"), list(row.cfg_options), str(data["root"]),
                      row.max_iters, [str(m) for m in row.mixins])
    model = MODELS.build(cfg.model)
    model.init_weights()
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    own = model.state_dict()
    for name in ("backbone.conv1.weight", "neck.fpn_convs.0.conv.weight", "roi_head.bbox_head.fc_cls.weight"):
        assert torch.equal(own[name], state[name]), name  # loaded from the pre-training
    assert not any(name.startswith("roi_head.mask_head") for name in state)  # the mask head keeps its own init


@pytest.mark.slow  # trains
def test_tspsis_pretrain_makes_the_cached_weights_and_names_them(data, capsys):
    from tspsis.cli import main

    assert main(["pretrain", "--profile", "tiny", "--data-root", str(data["root"]), "--gpus", "0"]) == 0
    checkpoint = experiments.pretraining("tiny", data["root"]).final_checkpoint
    assert checkpoint.is_file() and str(checkpoint) in capsys.readouterr().out


def test_the_detector_tracks_pretraining_is_a_detector_with_a_box_ap_test(data):
    """In the detector track the shared pre-training keeps the RPN and is scored: box AP only (no mask head)."""
    pretraining = experiments.pretraining("tiny", data["root"], track="detector")
    cfg = pretraining.request.cfg
    assert cfg.model.roi_head.mask_head is None and "rpn_head" in cfg.model and cfg.model.rpn_head.type == "RPNHead"
    assert list(cfg.test_evaluator.metric) == ["bbox"] and not cfg.test_evaluator.fp_attribution
    assert cfg.test_evaluator.ann_file.endswith("annotations/val.json")  # the data set's evaluator, merged
    assert pretraining.work_dir != experiments.pretraining("tiny", data["root"]).work_dir  # one per track


@pytest.mark.slow  # trains
def test_the_shared_detector_is_trained_once_and_its_box_ap_kept(data, tmp_path):
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    row = experiments.resolve("Mask R-CNN", "voc2nonvoc", profile="tiny", data_root=data["root"], work_dir=tmp_path,
                              track="detector")
    run = row.train()
    detector = row.pretrained.train()  # trained before the row: returned at once
    assert {"all", "seen", "unseen"} <= set(detector.metrics["bbox"]) and "segm" not in detector.metrics
    state = torch.load(row.pretrained.final_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    assert any(name.startswith("rpn_head.") for name in state)  # the RPN is pre-trained too
    assert {"bbox", "segm"} <= set(run.metrics)  # the row: masks of its detections


def test_a_detector_pretraining_can_start_from_the_box_tracks(data, monkeypatch):
    """Schedule.detector_init_iters: the shared detector loads the box track's box-classification pre-training (the
    very run the box-track profiles of the same data use) and trains it first; without it the detector starts from
    scratch."""
    from tspsis.lab import runs as runs_module

    detector = experiments.pretraining("tiny-detector", data["root"])
    box = experiments.pretraining("tiny", data["root"])
    assert detector.pretrained is not None and detector.pretrained.work_dir == box.work_dir
    assert detector.request.cfg.model.init_cfg.checkpoint == str(box.final_checkpoint)
    assert experiments.pretraining("tiny", data["root"], track="detector").pretrained is None
    order = []
    monkeypatch.setattr(runs_module, "completed_run", lambda work_dir, *metrics: None)
    monkeypatch.setattr(runs_module, "train", lambda request, work_dir, **kw: order.append(
        (work_dir, kw["threads"])))
    detector.train(threads=2)
    assert order == [(box.work_dir, 2), (detector.work_dir, 2)]  # the box track's first, both on the given threads
