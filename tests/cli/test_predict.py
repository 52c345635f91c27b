"""tspsis predict: per-image JSON + overlays for images and folders; with --boxes, the masks of the given boxes
are exactly those of the box-conditioned evaluation (same AP); any image size; clear input errors."""
import contextlib
import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_util

from tspsis.cli import commands as cli
from tspsis.cli.predict import predict
from tspsis.engine.config import load_config as resolve_config

pytestmark = pytest.mark.slow  # builds models, runs mmengine's test loop
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
LEAF = CONFIGS / "mask_rcnn/psis-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"
MIXINS = [CONFIGS / "_base_" / "tracks" / "box-conditioned.py",
          CONFIGS / "_base_" / "schedules" / "box-cpu_1xb16.py"]
FEW = 4  # validation images of the AP comparison


def _classes(root: Path) -> list[str]:
    cats = json.loads((root / "annotations" / "val.json").read_text())["categories"]
    return [c["name"] for c in sorted(cats, key=lambda c: c["id"])]


def _build(cfg):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import tspsis.plugin  # noqa: F401

    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.fixture(scope="module")
def box_checkpoint(data_root, tmp_path_factory, single_thread):
    """Random-init box-conditioned baseline, saved like mmengine's Runner does (state_dict + dataset_meta).
    The mask logits are shifted up so that masks cover most of their box: AP > 0, the comparison means something."""
    model = _build(resolve_config(str(LEAF), "WORK_DIR", [], mixins=[str(m) for m in MIXINS]))
    with torch.no_grad():
        model.roi_head.mask_head.conv_logits.weight.mul_(0.3)
        model.roi_head.mask_head.conv_logits.bias.fill_(1.5)
    path = tmp_path_factory.mktemp("ckpt") / "box.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {"dataset_meta": {"classes": _classes(data_root)}}}, path)
    return path


@pytest.fixture(scope="module")
def det_checkpoint(tmp_path_factory, single_thread):
    """Random-init detector-track model, a bare state_dict (no meta: class names come from the config's data).
    Its classifier favours the first class, so that detections score above the default threshold."""
    model = _build(resolve_config(str(LEAF), "WORK_DIR", []))
    with torch.no_grad():
        model.roi_head.bbox_head.fc_cls.bias[0] += 4.0
    path = tmp_path_factory.mktemp("ckpt") / "det.pth"
    torch.save({"state_dict": model.state_dict()}, path)
    return path


def _coco_ap(gt_file: Path, results) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        evaluator = COCOeval(gt, gt.loadRes(results), "segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0])


def _check_pred_file(path: Path, classes, category_ids):
    pred = json.loads(path.read_text())
    width, height = pred["image"]["width"], pred["image"]["height"]
    for inst in pred["instances"]:
        assert inst["category_name"] == classes[inst["label"]]
        assert inst["category_id"] == category_ids[inst["category_name"]]
        assert inst["segmentation"]["size"] == [height, width]
        assert mask_util.decode(inst["segmentation"]).shape == (height, width)
        assert len(inst["bbox"]) == 4 and 0 <= inst["score"] <= 1
    return pred


def test_predict_writes_json_and_overlays_for_an_image_and_a_folder(data_root, det_checkpoint, tmp_path):
    val = data_root / "val"
    cats = json.loads((data_root / "annotations" / "val.json").read_text())["categories"]
    ids = {c["name"]: c["id"] for c in cats}
    classes = _classes(data_root)

    # one image, through the CLI
    rc = cli.main(["predict", str(LEAF), str(det_checkpoint), str(val / "000000.png"), "--out-dir", str(tmp_path / "one"),
                   "--score-thr", "0", "--device", "cpu", "--data-root", str(data_root)])
    assert rc == 0
    pred = _check_pred_file(tmp_path / "one" / "preds" / "000000.json", classes, ids)
    assert pred["mode"] == "detection" and pred["image"]["id"] == 1 and pred["instances"]
    overlay = cv2.imread(str(tmp_path / "one" / "vis" / "000000.png"))
    assert overlay is not None and min(overlay.shape[:2]) >= 512  # small images are enlarged for the labels
    results = json.loads((tmp_path / "one" / "results.segm.json").read_text())
    assert len(results) == len(pred["instances"]) and {r["image_id"] for r in results} == {1}

    # a folder, default threshold: the results file still holds every detection
    run = predict(LEAF, det_checkpoint, [val], tmp_path / "folder", data_root=data_root, progress=False)
    names = sorted(p.stem for p in val.glob("*.png"))
    assert [Path(item["file"]).stem for item in run.images] == names
    assert sorted(p.stem for p in (tmp_path / "folder" / "preds").glob("*.json")) == names
    assert sorted(p.stem for p in (tmp_path / "folder" / "vis").glob("*.png")) == names
    for name in names:
        kept = _check_pred_file(tmp_path / "folder" / "preds" / f"{name}.json", classes, ids)["instances"]
        assert all(inst["score"] >= 0.3 for inst in kept)
    assert run.num_instances > 0
    results = json.loads(run.results_file.read_text())
    assert len(results) >= run.num_instances and {r["image_id"] for r in results} <= set(range(1, len(names) + 1))


def _runner_test(data_root: Path, checkpoint: Path, gt_file: Path, work_dir: Path) -> list:
    """The box-conditioned evaluation: mmengine's test loop on the images of ``gt_file``; its COCO results."""
    from mmengine.runner import Runner

    from tspsis.engine.config import replace_data_root

    cfg = resolve_config(str(LEAF), "WORK_DIR", [], mixins=[str(m) for m in MIXINS])
    cfg.merge_from_dict(replace_data_root(cfg.to_dict(), cfg.data_root, str(data_root) + "/"), allow_list_keys=True)
    cfg.test_dataloader.dataset.ann_file = str(gt_file)
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    cfg.test_evaluator.update(ann_file=str(gt_file), metric=["segm"], outfile_prefix=str(work_dir / "test"))
    cfg.load_from, cfg.work_dir = str(checkpoint), str(work_dir)
    cfg.default_hooks.pop("visualization", None)
    Runner.from_cfg(cfg).test()
    return json.loads((work_dir / "test.segm.json").read_text())


def test_given_boxes_give_the_masks_and_ap_of_the_box_conditioned_evaluation(data_root, box_checkpoint, tmp_path):
    full = json.loads((data_root / "annotations" / "val.json").read_text())
    images = full["images"][:FEW]
    keep = {img["id"] for img in images}
    gt = dict(full, images=images, annotations=[a for a in full["annotations"] if a["image_id"] in keep])
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(gt))
    boxes = dict(gt, annotations=[{k: v for k, v in a.items() if k != "segmentation"} for a in gt["annotations"]])
    boxes_file = tmp_path / "boxes.json"
    boxes_file.write_text(json.dumps(boxes))

    inputs = [data_root / "val" / img["file_name"] for img in images]
    run = predict(LEAF, box_checkpoint, inputs, tmp_path / "out", mixins=MIXINS, boxes=boxes_file,
                  device="cpu", progress=False)
    ours = json.loads(run.results_file.read_text())
    assert len(ours) == len(gt["annotations"]) == run.num_instances  # one mask per given box, all kept
    assert [item["id"] for item in run.images] == [img["id"] for img in images]
    pred = json.loads((tmp_path / "out" / "preds" / Path(images[0]["file_name"]).with_suffix(".json").name).read_text())
    assert pred["mode"] == "given_boxes"
    given = [a for a in gt["annotations"] if a["image_id"] == images[0]["id"]]
    assert np.allclose([i["bbox"] for i in pred["instances"]], [a["bbox"] for a in given])
    assert [i["category_id"] for i in pred["instances"]] == [a["category_id"] for a in given]

    reference = _runner_test(data_root, box_checkpoint, gt_file, tmp_path / "eval")
    ap = _coco_ap(gt_file, ours)
    assert ap > 0.01
    assert ap == pytest.approx(_coco_ap(gt_file, reference), abs=1e-6)

    def key(det):
        return det["image_id"], det["category_id"], tuple(round(v, 3) for v in det["bbox"])

    for a, b in zip(sorted(ours, key=key), sorted(reference, key=key)):
        assert key(a) == key(b) and a["segmentation"] == b["segmentation"]
        assert a["score"] == pytest.approx(b["score"], abs=1e-6)


def test_a_1024x768_image_works_in_both_modes(data_root, det_checkpoint, box_checkpoint, tmp_path):
    # 8 x 6 tiles of 128 px validation images: a photo-sized image whose objects are at the scale of training
    tiles = [cv2.imread(str(p)) for p in sorted((data_root / "val").glob("*.png"))]
    image = np.vstack([np.hstack([tiles[(row + col) % len(tiles)] for col in range(8)]) for row in range(6)])
    assert image.shape == (768, 1024, 3)
    path = tmp_path / "photo.jpg"
    cv2.imwrite(str(path), image)
    classes = _classes(data_root)

    run = predict(LEAF, det_checkpoint, [path], tmp_path / "det", data_root=data_root, score_thr=0.0, progress=False)
    pred = json.loads((tmp_path / "det" / "preds" / "photo.json").read_text())
    assert (pred["image"]["width"], pred["image"]["height"]) == (1024, 768) and run.num_instances > 0
    assert all(inst["segmentation"]["size"] == [768, 1024] for inst in pred["instances"])

    boxes = tmp_path / "photo_boxes.json"
    boxes.write_text(json.dumps({"boxes": [[100, 50, 600, 500], [500.5, 300, 1024.5, 768]],
                                 "labels": [classes[0], classes[-1]]}))
    predict(LEAF, box_checkpoint, [path], tmp_path / "box", mixins=MIXINS, boxes=boxes, progress=False)
    pred = json.loads((tmp_path / "box" / "preds" / "photo.json").read_text())
    assert [i["category_name"] for i in pred["instances"]] == [classes[0], classes[-1]]
    assert pred["instances"][1]["bbox"] == pytest.approx([500.5, 300, 523.5, 468])  # clipped by its 0.5 px slack
    mask = mask_util.decode(pred["instances"][0]["segmentation"]).astype(bool)
    assert mask.shape == (768, 1024) and mask.any() and not mask[:, :98].any() and not mask[502:].any()
    assert cv2.imread(str(tmp_path / "box" / "vis" / "photo.png")).shape[:2] == (768, 1024)


def test_input_errors_name_the_file_and_the_field(data_root, det_checkpoint, box_checkpoint, tmp_path, capsys):
    image = data_root / "val" / "000000.png"
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    with pytest.raises(ValueError, match=r"broken\.png: cannot read the image"):
        predict(LEAF, det_checkpoint, [broken], tmp_path / "o1", data_root=data_root, progress=False)

    boxes = tmp_path / "b.json"
    boxes.write_text(json.dumps({"boxes": [[1, 1, 20, 20]], "labels": ["no-such-shape"]}))
    rc = cli.main(["predict", str(LEAF), str(box_checkpoint), str(image), "--out-dir", str(tmp_path / "o2"),
                   "--boxes", str(boxes), *(arg for m in MIXINS for arg in ("--mixin", str(m)))])
    err = capsys.readouterr().err
    assert rc == 2 and "b.json: boxes[0] label 'no-such-shape' is not a class of the model" in err

    boxes.write_text(json.dumps({"boxes": [[1, 1, 20, 20], [100, 10, 140, 30]], "labels": [_classes(data_root)[0]] * 2}))
    with pytest.raises(ValueError, match=r"b\.json: boxes\[1\] \[100.*\] \(xyxy\) lies outside image .*000000\.png "
                                         r"\(128x128\)"):
        predict(LEAF, box_checkpoint, [image], tmp_path / "o3", mixins=MIXINS, boxes=boxes, progress=False)

    coco = json.loads((data_root / "annotations" / "val.json").read_text())
    coco_file = tmp_path / "coco.json"
    coco_file.write_text(json.dumps(dict(coco, images=coco["images"][1:])))
    with pytest.raises(ValueError, match=r"coco\.json: no entry in `images` whose file_name matches input .*000000"):
        predict(LEAF, box_checkpoint, [image], tmp_path / "o4", mixins=MIXINS, boxes=coco_file, progress=False)

    with pytest.raises(ValueError, match="box-conditioned model .* pass --boxes"):
        predict(LEAF, box_checkpoint, [image], tmp_path / "o5", mixins=MIXINS, progress=False)


def test_predict_is_all_or_nothing_and_a_corrupt_checkpoint_is_one_line(data_root, det_checkpoint, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("000000.png", "000001.png"):
        shutil.copy(data_root / "val" / name, folder / name)
    png = (data_root / "val" / "000002.png").read_bytes()
    (folder / "000002.png").write_bytes(png[: len(png) // 3])  # the last image, cut short
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"000002\.png: cannot read the image"):
        predict(LEAF, det_checkpoint, [folder], out, data_root=data_root, progress=False)
    assert not out.exists() and not list(tmp_path.glob(".out*"))  # no overlays of the first two, no staging left

    (folder / "000002.png").unlink()
    done = predict(LEAF, det_checkpoint, [folder], out, data_root=data_root, progress=False)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert {str(p) for p in before} == {"preds/000000.json", "preds/000001.json", "vis/000000.png",
                                        "vis/000001.png", "results.segm.json"} and done.results_file.is_file()
    (folder / "000002.png").write_bytes(png[: len(png) // 3])
    with pytest.raises(ValueError, match=r"000002\.png: cannot read the image"):
        predict(LEAF, det_checkpoint, [folder], out, data_root=data_root, progress=False)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # as it was

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a checkpoint" * 100)
    capsys.readouterr()
    rc = cli.main(["predict", str(LEAF), str(garbage), str(folder), "--out-dir", str(tmp_path / "o"),
                   "--data-root", str(data_root)])
    assert rc == 2 and capsys.readouterr().err == (
        f"tspsis predict: error: {garbage}: corrupt or truncated checkpoint (not a zip archive)\n")


def test_the_predictor_gives_one_mask_per_given_box_as_predict_writes_it(data_root, box_checkpoint, tmp_path):
    """tspsis.apis.Predictor, given boxes in: (N, 4) boxes, (N,) labels and scores, (N, H, W) bool masks in the
    image's pixels, the boxes as given; its COCO records are the instances ``predict`` wrote for the image."""
    from tspsis.apis import Predictor, coco_records, read_boxes

    image = data_root / "val" / "000000.png"
    classes = _classes(data_root)
    boxes = tmp_path / "boxes.json"
    given = [[10, 12, 60, 70], [40.5, 50, 127, 128]]
    boxes.write_text(json.dumps({"boxes": given, "labels": [classes[1], classes[0]]}))
    cfg = resolve_config(str(LEAF), "WORK_DIR", [], mixins=[str(m) for m in MIXINS])
    predictor = Predictor(cfg, box_checkpoint, given_boxes=True, device="cpu")
    source = read_boxes(boxes, [image])
    img, pred = predictor(image, source.per_image[image])
    assert img.shape == (128, 128, 3)
    assert pred["bboxes"].shape == (2, 4) and pred["labels"].shape == pred["scores"].shape == (2,)
    assert pred["masks"].shape == (2, 128, 128) and pred["masks"].dtype == bool
    assert pred["masks"].any(axis=(1, 2)).all()
    assert np.allclose(pred["bboxes"], given)
    assert [predictor.classes[k] for k in pred["labels"]] == [classes[1], classes[0]]

    predict(LEAF, box_checkpoint, [image], tmp_path / "out", mixins=MIXINS, boxes=boxes, progress=False)
    written = json.loads((tmp_path / "out" / "preds" / "000000.json").read_text())["instances"]
    assert coco_records(pred, predictor.classes, predictor.category_ids, source.category_ids) == written
