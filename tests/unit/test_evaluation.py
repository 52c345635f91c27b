"""tspsis.evaluation: unseen/seen/all COCO AP vs raw COCOeval, the subset rule, overlap subsets, false-positive
pixel attribution, the faster backend, validation and files."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tspsis import evaluation
from tspsis.evaluation import AP_NAMES, coco_ap, evaluate, evaluate_files, false_positive_attribution

SEEN, UNSEEN = [1, 2], [3, 4]
MANIFEST = {"seen_category_ids": SEEN, "unseen_category_ids": UNSEEN}


def rle(mask: np.ndarray) -> dict:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": encoded["size"], "counts": encoded["counts"].decode("ascii")}


def rect(height: int, width: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def annotation(ann_id: int, image_id: int, category_id: int, mask: np.ndarray, iscrowd: int = 0) -> dict:
    x, y, w, h = mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))).tolist()
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "segmentation": rle(mask),
            "area": float(mask.sum()), "bbox": [x, y, w, h], "iscrowd": iscrowd}


def detection(image_id: int, category_id: int, mask: np.ndarray, score: float) -> dict:
    bbox = mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))).tolist()
    return {"image_id": image_id, "category_id": category_id, "score": score, "bbox": bbox,
            "segmentation": rle(mask)}


def dataset(height: int, width: int, num_images: int, annotations: list[dict]) -> dict:
    return {"images": [{"id": i, "width": width, "height": height, "file_name": f"{i}.png"}
                       for i in range(1, num_images + 1)],
            "categories": [{"id": c, "name": f"cat{c}"} for c in SEEN + UNSEEN],
            "annotations": annotations}


def random_case(seed: int = 0) -> tuple[dict, list[dict]]:
    """Seeded images with overlapping rectangles and ellipses of 4 categories (one crowd region), and
    jittered, mislabelled and spurious detections."""
    rng = np.random.default_rng(seed)
    height, width, num_images = 60, 80, 5
    yy, xx = np.mgrid[:height, :width]
    anns, dets = [], []
    for image_id in range(1, num_images + 1):
        for _ in range(int(rng.integers(3, 7))):
            cx, cy = rng.uniform(10, width - 10), rng.uniform(10, height - 10)
            rx, ry = rng.uniform(3, 20), rng.uniform(3, 16)
            if rng.random() < 0.5:
                mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
            else:
                mask = (abs(xx - cx) <= rx) & (abs(yy - cy) <= ry)
            category = int(rng.choice(SEEN + UNSEEN))
            anns.append(annotation(len(anns) + 1, image_id, category, mask, iscrowd=int(len(anns) == 3)))
            for _ in range(int(rng.integers(0, 3))):
                shifted = np.roll(mask, tuple(rng.integers(-2, 3, size=2)), axis=(0, 1))
                label = category if rng.random() < 0.8 else int(rng.choice(SEEN + UNSEEN))
                dets.append(detection(image_id, label, shifted, float(rng.random())))
        for _ in range(2):  # spurious detections
            x0, y0 = int(rng.integers(0, width - 12)), int(rng.integers(0, height - 12))
            mask = rect(height, width, x0, y0, x0 + int(rng.integers(3, 12)), y0 + int(rng.integers(3, 12)))
            dets.append(detection(image_id, int(rng.choice(SEEN + UNSEEN)), mask, float(rng.random())))
    return dataset(height, width, num_images, anns), dets


def raw_cocoeval_stats(gt: dict, dets: list[dict], iou_type: str, cat_ids: list[int]) -> np.ndarray:
    """Reference: plain pycocotools, segm results without bbox (mask area), catIds restricted."""
    drop = "bbox" if iou_type == "segm" else "segmentation"
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes([{k: v for k, v in d.items() if k != drop} for d in copy.deepcopy(dets)])
        evaluator = COCOeval(coco_gt, coco_dt, iou_type)
        evaluator.params.catIds = cat_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return np.asarray(evaluator.stats[:6])


@pytest.fixture(scope="module")
def case() -> tuple[dict, list[dict]]:
    return random_case(0)


@pytest.fixture(scope="module")
def metrics(case) -> dict:
    gt, dets = case
    return evaluate(gt, dets, MANIFEST)


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
@pytest.mark.parametrize("group,cat_ids", [("unseen", UNSEEN), ("seen", SEEN), ("all", SEEN + UNSEEN)])
def test_groups_equal_raw_cocoeval_with_cat_ids(case, metrics, iou_type, group, cat_ids):
    gt, dets = case
    reference = raw_cocoeval_stats(gt, dets, iou_type, cat_ids)
    assert (reference[:3] > 0).all()  # the case is not degenerate
    record = metrics[iou_type][group]
    for name, value in zip(AP_NAMES, reference):
        if value < 0:
            assert record[name] is None
        else:
            assert record[name] == pytest.approx(100 * value, abs=1e-9)
    assert record["num_gt"] == sum(1 for a in gt["annotations"]
                                   if a["category_id"] in cat_ids and not a["iscrowd"])


def test_segm_uses_mask_area_for_size_ranges():
    """A small 5x5 GT found by a perfect detection (.9), and an unmatched detection (.95) shaped as a
    1-pixel-wide L: mask area 79 (small), box area 40x40 = 1600 (medium). With the mask area the L is an FP
    of the small range, ranked first -> APs 50; with its box area it would be ignored there -> APs 100."""
    height = width = 64
    square = rect(height, width, 2, 2, 7, 7)
    l_shape = rect(height, width, 20, 20, 60, 21) | rect(height, width, 20, 20, 21, 60)
    gt = dataset(height, width, 1, [annotation(1, 1, 3, square)])
    dets = [detection(1, 3, square, 0.9), detection(1, 3, l_shape, 0.95)]
    assert dets[1]["bbox"] == [20.0, 20.0, 40.0, 40.0]
    record = coco_ap(gt, dets, "segm", [3])
    assert record["APs"] == pytest.approx(50.0)
    assert record["APm"] is None and record["APl"] is None
    assert record["AP"] == pytest.approx(50.0)  # all areas: the L is an FP either way


@pytest.mark.parametrize("backend", evaluation.BACKENDS)
def test_subset_rule_by_hand(backend):
    """Two unseen GT of one category, A in the subset, B outside; perfect detections on both, B's scored
    higher. Rule: B's detection is matched to ignored GT -> neither TP nor FP -> AP 100. An unmatched
    detection (score .95) is an FP ranked first -> precision at full recall 1/2 -> AP 50 at every IoU."""
    height, width = 40, 60
    a, b = rect(height, width, 2, 2, 12, 12), rect(height, width, 30, 2, 40, 12)
    gt = dataset(height, width, 1, [annotation(1, 1, 3, a), annotation(2, 1, 3, b)])
    dets = [detection(1, 3, b, 0.9), detection(1, 3, a, 0.8)]
    for iou_type in ("segm", "bbox"):
        subset = coco_ap(gt, dets, iou_type, [3], keep_gt_ids=[1], backend=backend)
        assert subset["AP"] == pytest.approx(100.0) and subset["AP50"] == pytest.approx(100.0)
        # without the rule (B simply absent) B's detection would be an FP ranked first: AP 50
        without_b = dataset(height, width, 1, [annotation(1, 1, 3, a)])
        assert coco_ap(without_b, dets, iou_type, [3], backend=backend)["AP"] == pytest.approx(50.0)

        spurious = detection(1, 3, rect(height, width, 2, 25, 12, 35), 0.95)
        subset = coco_ap(gt, dets + [spurious], iou_type, [3], keep_gt_ids=[1], backend=backend)
        for name in ("AP", "AP50", "AP75", "APs"):
            assert subset[name] == pytest.approx(50.0)
        assert subset["APm"] is None and subset["APl"] is None
        # an empty subset has no scored ground truth
        assert coco_ap(gt, dets, iou_type, [3], keep_gt_ids=[], backend=backend)["AP"] is None


def test_overlap_bins_and_overlapped_by_hand():
    """Unseen A alone (O = 0); unseen B with the left half of its 10x10 box covered by a seen mask
    (O = 0.5). A perfect det on A (.9), a det on B at IoU 0.25 (.8, unmatched)."""
    height, width = 40, 60
    a, b = rect(height, width, 2, 2, 12, 12), rect(height, width, 30, 20, 40, 30)
    occluder = rect(height, width, 20, 20, 35, 30)  # covers columns 30..34 of B's box: 50 of 100 pixels
    gt = dataset(height, width, 1, [annotation(1, 1, 3, a), annotation(2, 1, 4, b), annotation(3, 1, 1, occluder)])
    dets = [detection(1, 3, a, 0.9), detection(1, 4, np.roll(b, 6, axis=1), 0.8)]
    result = evaluate(gt, dets, MANIFEST, iou_types=("segm",), fp_attribution=False)["segm"]

    bins = result["unseen_overlap_bins"]
    assert list(bins) == [f"{k / 10:.1f}-{(k + 1) / 10:.1f}" for k in range(10)]
    assert bins["0.0-0.1"]["num_gt"] == 1 and bins["0.4-0.5"]["num_gt"] == 1
    assert bins["0.0-0.1"]["AP"] == pytest.approx(100.0)  # A found; B's det is category 4, another class
    assert bins["0.4-0.5"]["AP"] == pytest.approx(0.0)  # B missed
    empty = bins["0.2-0.3"]
    assert empty["AP"] is None and empty["num_gt"] == 0 and "reason" in empty

    overlapped = result["unseen_overlapped"]
    assert overlapped["threshold"] == 0.3 and overlapped["num_gt"] == 1
    assert overlapped["AP"] == pytest.approx(0.0)
    # unseen: category 3 AP 100 (A found), category 4 AP 0 (B missed) -> mean 50
    assert result["unseen"]["AP"] == pytest.approx(50.0)


def test_fp_attribution_by_hand():
    """20x20 image. Unseen A (cat 3) rows/cols 0-9; seen S (cat 1) rows 0-9, cols 10-14; unseen U (cat 4)
    rows 10-14, cols 0-9; seen T (cat 2) rows 10-11, cols 0-1 (on top of U).
    Detection d (cat 3) rows/cols 0-11: IoU with A = 100/144, matched. Its 44 FP pixels: cols 10-11 x rows
    0-9 on S (20, seen); rows 10-11 x cols 0-9 on U (20), of which cols 0-1 also on T (4) -> seen 24,
    unseen 16; rows/cols 10-11 (4) background.
    A duplicate of d (lower score) finds A taken: unmatched, not counted. A det of cat 4 far from U: unmatched.
    A seen det (cat 1) = S plus rows 10-12 x cols 10-14 (15 background pixels): matched to S."""
    size = 20
    a, s = rect(size, size, 0, 0, 10, 10), rect(size, size, 10, 0, 15, 10)
    u, t = rect(size, size, 0, 10, 10, 15), rect(size, size, 0, 10, 2, 12)
    gt = dataset(size, size, 1, [annotation(1, 1, 3, a), annotation(2, 1, 1, s), annotation(3, 1, 4, u),
                                 annotation(4, 1, 2, t)])
    d = rect(size, size, 0, 0, 12, 12)
    dets = [detection(1, 3, d, 0.9), detection(1, 3, d, 0.5), detection(1, 4, rect(size, size, 15, 15, 20, 20), 0.7),
            detection(1, 1, s | rect(size, size, 10, 10, 15, 13), 0.6)]

    unseen = false_positive_attribution(gt, dets, MANIFEST, categories="unseen")
    assert (unseen["background"], unseen["seen"], unseen["unseen"]) == (4, 24, 16)
    assert unseen["total"] == 44 and unseen["num_matched_detections"] == 1
    assert unseen["fractions"]["seen"] == pytest.approx(24 / 44)
    seen = false_positive_attribution(gt, dets, MANIFEST, categories="seen")
    assert (seen["background"], seen["seen"], seen["unseen"]) == (15, 0, 0)
    everything = false_positive_attribution(gt, dets, MANIFEST, categories="all")
    assert (everything["background"], everything["seen"], everything["unseen"]) == (19, 24, 16)
    assert everything["num_matched_detections"] == 2
    # evaluate() reports the same three groups from one matching run
    reported = evaluate(gt, dets, MANIFEST, iou_types=("segm",), overlap=False)["segm"]["fp_attribution"]
    assert reported == {"unseen": unseen, "seen": seen, "all": everything}


def test_faster_backend_matches_pycocotools(case, metrics):
    gt, dets = case
    faster = evaluate(gt, dets, MANIFEST, backend="faster_coco_eval", fp_attribution=False)
    compared = 0
    for iou_type in ("segm", "bbox"):
        records = [(k, metrics[iou_type][k], faster[iou_type][k]) for k in ("unseen", "seen", "all",
                                                                             "unseen_overlapped")]
        records += [(k, metrics[iou_type]["unseen_overlap_bins"][k], v)
                    for k, v in faster[iou_type]["unseen_overlap_bins"].items()]
        for key, ours, theirs in records:
            for name in AP_NAMES:
                assert (ours[name] is None) == (theirs[name] is None), (iou_type, key, name)
                if ours[name] is not None:
                    assert theirs[name] == pytest.approx(ours[name], abs=0.1), (iou_type, key, name)  # 1e-3 AP
                    compared += 1
    assert compared > 40
    assert faster["meta"]["backend"] == "faster_coco_eval"


def test_inputs_are_not_modified(case):
    gt, dets = case
    gt_before, dets_before = copy.deepcopy(gt), copy.deepcopy(dets)
    for backend in evaluation.BACKENDS:
        evaluate(gt, dets, MANIFEST, backend=backend)
    assert gt == gt_before and dets == dets_before


def test_empty_group_and_empty_detections(case):
    gt, dets = case
    all_seen = {"seen_category_ids": SEEN + UNSEEN, "unseen_category_ids": []}
    result = evaluate(gt, dets, all_seen, iou_types=("bbox",))
    unseen = result["bbox"]["unseen"]
    assert all(unseen[name] is None for name in AP_NAMES) and unseen["reason"] == "no categories in this group"
    assert result["bbox"]["unseen_overlapped"]["AP"] is None
    assert result["bbox"]["all"]["AP"] == pytest.approx(100 * raw_cocoeval_stats(gt, dets, "bbox", SEEN + UNSEEN)[0])
    json.dumps(result, allow_nan=False)  # None, not NaN

    nothing = evaluate(gt, [], MANIFEST, iou_types=("segm",))
    assert nothing["segm"]["unseen"]["AP"] == 0.0 and nothing["segm"]["fp_attribution"]["all"]["total"] == 0


def test_validation_errors_name_file_and_field(case, tmp_path):
    gt, dets = case
    broken = copy.deepcopy(dets)
    del broken[2]["segmentation"]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"dets\.json: detection 2: field 'segmentation' is missing"):
        evaluate(gt, str(path), MANIFEST)
    evaluate(gt, str(path), MANIFEST, iou_types=("bbox",), overlap=False)  # bbox needs no segmentation

    wrong_image = copy.deepcopy(dets[:1])
    wrong_image[0]["image_id"] = 999
    with pytest.raises(ValueError, match="field 'image_id' = 999"):
        evaluate(gt, wrong_image, MANIFEST)

    wrong_size = copy.deepcopy(dets[:1])
    wrong_size[0]["segmentation"] = rle(np.zeros((10, 10), dtype=bool))
    with pytest.raises(ValueError, match=r"detection 0: field 'segmentation' has size \[10, 10\]"):
        evaluate(gt, wrong_size, MANIFEST)
    box_only = copy.deepcopy(gt)
    del box_only["annotations"][0]["segmentation"]
    with pytest.raises(ValueError, match="ground truth: annotation 1: field 'segmentation'"):
        evaluate(box_only, dets, MANIFEST, iou_types=("bbox",))

    manifest_path = tmp_path / "split.manifest.json"
    manifest_path.write_text(json.dumps({"seen_category_ids": SEEN}))
    with pytest.raises(ValueError, match=r"split\.manifest\.json: field 'unseen_category_ids'"):
        evaluate(gt, dets, manifest_path)
    with pytest.raises(ValueError, match="categories \\[4\\] .* in neither"):
        evaluate(gt, dets, {"seen_category_ids": SEEN, "unseen_category_ids": [3]})
    with pytest.raises(ValueError, match="not categories of"):
        evaluate(gt, dets, {"seen_category_ids": SEEN, "unseen_category_ids": UNSEEN + [99]})
    with pytest.raises(FileNotFoundError, match="missing.json"):
        evaluate(tmp_path / "missing.json", dets, MANIFEST)


def test_evaluate_files_writes_metrics_and_load_round_trips(case, metrics, tmp_path):
    gt, dets = case
    paths = {name: tmp_path / f"{name}.json" for name in ("gt", "dt", "manifest")}
    for name, data in (("gt", gt), ("dt", dets), ("manifest", MANIFEST)):
        paths[name].write_text(json.dumps(data))
    out = tmp_path / "run" / "METRICS.json"
    returned = evaluate_files(paths["gt"], paths["dt"], paths["manifest"], out, iou_types=("segm", "bbox"))
    assert evaluation.load(out) == json.loads(json.dumps(returned))
    assert [p.name for p in out.parent.iterdir()] == ["METRICS.json"]  # no temp file left
    for iou_type in ("segm", "bbox"):
        assert returned[iou_type]["unseen"] == metrics[iou_type]["unseen"]
    assert returned["meta"]["detections"] == str(paths["dt"]) and returned["meta"]["ground_truth"] == str(paths["gt"])
    with pytest.raises(ValueError, match="field 'meta'"):
        evaluation.load(paths["manifest"])
