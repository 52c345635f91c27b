"""tspsis.plugin.metrics.partial_coco_metric.PartialCocoMetric: mmdet predictions in, the same numbers as tspsis.eval out."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from mmdet.registry import METRICS
from mmengine.registry import DefaultScope
from tspsis.eval import AP_NAMES, evaluate, load, mask_iou_by_overlap
from tspsis.plugin.metrics.partial_coco_metric import PartialCocoMetric

SIZE = 32
CLASSES = ("person", "dog", "kite", "racket")  # category ids 1..4; person, dog seen
MANIFEST = {"seen_category_ids": [1, 2], "unseen_category_ids": [3, 4]}


def rect(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def rle(mask: np.ndarray) -> dict:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": encoded["size"], "counts": encoded["counts"].decode("ascii")}


# per image: [(category id, mask)]; the kite of image 1 overlaps the person's box
GROUND_TRUTH = {
    1: [(1, rect(2, 2, 14, 20)), (3, rect(10, 4, 20, 12)), (4, rect(22, 20, 30, 30))],
    2: [(2, rect(0, 0, 16, 16)), (3, rect(18, 18, 28, 26)), (4, rect(4, 20, 12, 30))],
}
# per image: [(category id, mask, score)] -- good, shifted, mislabelled and spurious predictions
PREDICTIONS = {
    1: [(1, rect(2, 2, 14, 19), 0.9), (3, rect(10, 4, 22, 14), 0.8), (4, rect(22, 20, 30, 28), 0.7),
        (3, rect(0, 24, 6, 30), 0.6)],
    2: [(2, rect(0, 0, 16, 15), 0.95), (4, rect(18, 18, 28, 26), 0.5), (4, rect(4, 21, 12, 30), 0.85)],
}


def write_inputs(tmp_path) -> tuple[str, str]:
    annotations = []
    for image_id, objects in GROUND_TRUTH.items():
        for category_id, mask in objects:
            x, y, w, h = mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))).tolist()
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category_id,
                                "segmentation": rle(mask), "area": float(mask.sum()), "bbox": [x, y, w, h],
                                "iscrowd": 0})
    gt = {"images": [{"id": i, "width": SIZE, "height": SIZE, "file_name": f"{i}.png"} for i in GROUND_TRUTH],
          "categories": [{"id": i + 1, "name": name} for i, name in enumerate(CLASSES)],
          "annotations": annotations}
    gt_path, manifest_path = tmp_path / "val.json", tmp_path / "train_voc.manifest.json"
    gt_path.write_text(json.dumps(gt))
    manifest_path.write_text(json.dumps(MANIFEST))
    return str(gt_path), str(manifest_path)


def data_samples() -> list[dict]:
    """What a detector's test_step hands to the evaluator: pred_instances of tensors per image."""
    samples = []
    for image_id, predictions in PREDICTIONS.items():
        masks = np.stack([mask for _, mask, _ in predictions])
        boxes = [[m.nonzero()[1].min(), m.nonzero()[0].min(), m.nonzero()[1].max() + 1, m.nonzero()[0].max() + 1]
                 for m in masks]
        samples.append({"img_id": image_id, "ori_shape": (SIZE, SIZE), "pred_instances": {
            "bboxes": torch.tensor(boxes, dtype=torch.float32),
            "scores": torch.tensor([score for *_, score in predictions], dtype=torch.float32),
            "labels": torch.tensor([category - 1 for category, *_ in predictions]),
            "masks": torch.from_numpy(masks)}})
    return samples


def coco_results(samples: list[dict]) -> list[dict]:
    """The same predictions written directly as a COCO results list (category id = label + 1)."""
    results = []
    for sample in samples:
        pred = sample["pred_instances"]
        for box, score, label, mask in zip(pred["bboxes"].tolist(), pred["scores"].tolist(), pred["labels"].tolist(),
                                           pred["masks"].numpy()):
            results.append({"image_id": sample["img_id"], "category_id": label + 1, "score": score,
                            "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]], "segmentation": rle(mask)})
    return results


def run_metric(metric: PartialCocoMetric) -> dict[str, float]:
    metric.dataset_meta = {"classes": CLASSES}
    samples = data_samples()
    metric.process({}, samples)
    return metric.evaluate(size=len(samples))


def test_metric_equals_evaluation_on_the_same_results(tmp_path):
    gt_path, manifest_path = write_inputs(tmp_path)
    prefix = tmp_path / "work" / "results"
    prefix.parent.mkdir()
    with DefaultScope.overwrite_default_scope("mmdet"):  # as configs do (default_scope = 'mmdet')
        metric = METRICS.build(dict(type="PartialCocoMetric", ann_file=gt_path, manifest=manifest_path,
                                    metric=["bbox", "segm"], outfile_prefix=str(prefix), overlap_bins=True,
                                    fp_attribution=True))
    assert isinstance(metric, PartialCocoMetric)
    flat = run_metric(metric)

    expected = evaluate(gt_path, coco_results(data_samples()), manifest_path)
    assert expected["segm"]["unseen"]["AP"] > 0 and expected["segm"]["unseen_overlapped"]["num_gt"] == 1
    assert len(flat) == 2 * 4 * len(AP_NAMES)
    for iou_type in ("bbox", "segm"):
        for record in ("unseen", "seen", "all", "unseen_overlapped"):
            for name in AP_NAMES:
                value, reference = flat[f"coco/{iou_type}_{record}_{name}"], expected[iou_type][record][name]
                if reference is None:
                    assert math.isnan(value)
                else:
                    assert value == pytest.approx(reference, abs=1e-9)

    written = load(f"{prefix}.metrics.json")
    for iou_type in ("bbox", "segm"):
        assert written[iou_type] == json.loads(json.dumps(expected[iou_type]))
    assert "fp_attribution" in written["segm"] and "unseen_overlap_bins" in written["bbox"]
    assert written["meta"]["ground_truth"] == gt_path
    assert written["meta"]["detections"] == [f"{prefix}.bbox.json", f"{prefix}.segm.json"]


def test_metric_extras_are_off_by_default(tmp_path):
    """overlap_bins, fp_attribution and mask_iou decode masks: off unless a config switches them on."""
    gt_path, manifest_path = write_inputs(tmp_path)
    prefix = tmp_path / "results"
    flat = run_metric(PartialCocoMetric(ann_file=gt_path, manifest=manifest_path, outfile_prefix=str(prefix)))
    assert sorted(flat) == sorted(f"coco/{t}_{g}_{n}" for t in ("bbox", "segm") for g in ("unseen", "seen", "all")
                                  for n in AP_NAMES)
    written = load(f"{prefix}.metrics.json")
    for key in ("unseen_overlap_bins", "unseen_overlapped", "fp_attribution", "mask_iou"):
        assert key not in written["segm"], key
    expected = evaluate(gt_path, coco_results(data_samples()), manifest_path, overlap=False, fp_attribution=False)
    assert written["segm"] == json.loads(json.dumps(expected["segm"]))

    # the old name still works (deprecated)
    with pytest.warns(DeprecationWarning, match="overlap_bins"):
        old = PartialCocoMetric(ann_file=gt_path, manifest=manifest_path, overlap=True)
    assert old.eval_kwargs["overlap"] is True
    with pytest.raises(ValueError, match="field 'fp_attribution' must be True or False"):
        PartialCocoMetric(ann_file=gt_path, manifest=manifest_path, fp_attribution="yes")


def box_conditioned_samples() -> list[dict]:
    """The box-conditioned track: one prediction per ground-truth instance with its box and label; every
    mask is the ground-truth mask except image 1's kite (80 px), whose mask keeps only the top 4 of its 8
    rows (IoU 40/80 = 0.5) inside the unchanged box."""
    samples = []
    for image_id, objects in GROUND_TRUTH.items():
        masks = np.stack([mask for _, mask in objects])
        boxes = [[m.nonzero()[1].min(), m.nonzero()[0].min(), m.nonzero()[1].max() + 1, m.nonzero()[0].max() + 1]
                 for m in masks]
        if image_id == 1:
            masks[1, 8:12] = False  # the kite: rows 4-11 -> rows 4-7
        samples.append({"img_id": image_id, "ori_shape": (SIZE, SIZE), "pred_instances": {
            "bboxes": torch.tensor(boxes, dtype=torch.float32),
            "scores": torch.tensor([0.9] * len(objects), dtype=torch.float32),
            "labels": torch.tensor([category - 1 for category, _ in objects]),
            "masks": torch.from_numpy(masks)}})
    return samples


def test_metric_mask_iou_on_the_box_conditioned_track(tmp_path):
    """Hand values: unseen = kites and rackets, IoU 0.5, 1, 1, 1 -> 87.5; seen 100; all (0.5 + 5) / 6; the
    one overlapped unseen object (O >= 0.3) is image 1's kite (its box is 32/80 = 0.4 covered by the person)
    -> 50."""
    gt_path, manifest_path = write_inputs(tmp_path)
    prefix = tmp_path / "results"
    metric = PartialCocoMetric(ann_file=gt_path, manifest=manifest_path, metric="segm", mask_iou=True,
                               outfile_prefix=str(prefix))
    metric.dataset_meta = {"classes": CLASSES}
    samples = box_conditioned_samples()
    metric.process({}, samples)
    flat = metric.evaluate(size=len(samples))
    hand = {"unseen": 87.5, "seen": 100.0, "all": 100 * 5.5 / 6, "unseen_overlapped": 50.0}
    for name, value in hand.items():
        assert flat[f"coco/segm_{name}_mIoU"] == pytest.approx(value)
    assert len(flat) == 3 * len(AP_NAMES) + 4

    written = load(f"{prefix}.metrics.json")["segm"]["mask_iou"]
    assert written == json.loads(json.dumps(mask_iou_by_overlap(gt_path, coco_results(samples), manifest_path)))
    assert written["unseen"]["missing"] == 0 and written["unseen"]["num_gt"] == 4
    assert written["unseen"]["overlap_bins"]["0.3-0.4"] == {"mIoU": pytest.approx(50.0), "num_gt": 1, "missing": 0}


def test_metric_with_mask_scores_scores_boxes_and_masks_separately(tmp_path):
    """mask_scores differ from box scores: segm AP uses mask_scores, bbox AP the box scores."""
    gt_path, manifest_path = write_inputs(tmp_path)
    metric = PartialCocoMetric(ann_file=gt_path, manifest=manifest_path, metric="segm", overlap=False,
                               fp_attribution=False)
    metric.dataset_meta = {"classes": CLASSES}
    samples = data_samples()
    for sample in samples:  # reverse the score order of each image's masks
        sample["pred_instances"]["mask_scores"] = 1 - sample["pred_instances"]["scores"]
    metric.process({}, samples)
    flat = metric.evaluate(size=len(samples))
    results = coco_results(samples)
    for result, mask_score in zip(results, torch.cat([s["pred_instances"]["mask_scores"] for s in samples]).tolist()):
        result["score"] = mask_score
    expected = evaluate(gt_path, results, manifest_path, iou_types=("segm",), overlap=False, fp_attribution=False)
    assert sorted(flat) == sorted(f"coco/segm_{g}_{n}" for g in ("unseen", "seen", "all") for n in AP_NAMES)
    assert flat["coco/segm_all_AP"] == pytest.approx(expected["segm"]["all"]["AP"], abs=1e-9)
    with_box_scores = evaluate(gt_path, coco_results(data_samples()), manifest_path, iou_types=("segm",),
                               overlap=False, fp_attribution=False)
    assert abs(flat["coco/segm_all_AP"] - with_box_scores["segm"]["all"]["AP"]) > 1  # the case tells them apart


def test_metric_rejects_bad_config(tmp_path):
    gt_path, manifest_path = write_inputs(tmp_path)
    with pytest.raises(ValueError, match="field 'metric'"):
        PartialCocoMetric(ann_file=gt_path, manifest=manifest_path, metric=["proposal"])
    with pytest.raises(ValueError, match="field 'mask_iou' needs 'segm'"):
        PartialCocoMetric(ann_file=gt_path, manifest=manifest_path, metric="bbox", mask_iou=True)
    with pytest.raises(FileNotFoundError, match="nowhere.manifest.json"):
        PartialCocoMetric(ann_file=gt_path, manifest=str(tmp_path / "nowhere.manifest.json"))
