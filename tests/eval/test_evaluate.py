"""tspsis.eval: unseen/seen/all COCO AP vs raw COCOeval, the subset rule (both sides), overlap subsets,
false-positive pixel attribution (box matching), the box-conditioned track's mean mask IoU, the faster backend,
validation and files."""

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

from tspsis import eval as evaluation
from tspsis.eval import (AP_NAMES, coco_ap, detection_overlaps, evaluate, evaluate_files, false_positive_attribution,
                         mask_iou_by_overlap)

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


def biased_subset_case() -> tuple[dict, list[dict], dict[str, dict]]:
    """The issue's case: the overlapped subset (O >= 0.3) holds 1 of 10 unseen objects and that one is
    segmented almost perfectly; the 9 others are segmented poorly but scored higher.

    60x200 image, all unseen objects of category 3. B: rows/cols 10-29 (400 px), half covered by the seen
    occluder S (category 1, rows 10-29, cols 0-19): O = 200/400 = 0.5. Nine standalone 10x10 squares (O = 0)
    at rows 10-19, cols 50 + 15k. Seen T (category 2) rows 35-54, cols 0-39, no unseen object near it.
    Detections: B minus 10 pixels (IoU 390/400 = 0.975, score .5); each square shifted 2 columns (IoU 80/120
    = 0.667, score .9). Extra detections (not in the base list): on T, box rows 40-49 x cols 35-44 (no
    category-3 box near it, so Eq. 1 on its own box: T covers 50 of its 100 pixels, O = 0.5); in empty
    background rows 40-49 x cols 100-109 (O = 0)."""
    height, width = 60, 200
    b = rect(height, width, 10, 10, 30, 30)
    anns = [annotation(1, 1, 3, b), annotation(2, 1, 1, rect(height, width, 0, 10, 20, 30)),
            annotation(3, 1, 2, rect(height, width, 0, 35, 40, 55))]
    b_found = b.copy()
    b_found[10:20, 29] = False  # box unchanged: column 29 keeps rows 20-29
    dets = [detection(1, 3, b_found, 0.5)]
    for k in range(9):
        square = rect(height, width, 50 + 15 * k, 10, 60 + 15 * k, 20)
        anns.append(annotation(4 + k, 1, 3, square))
        dets.append(detection(1, 3, np.roll(square, 2, axis=1), 0.9))
    extra = {"on_seen": detection(1, 3, rect(height, width, 35, 40, 45, 50), 0.99),
             "background": detection(1, 3, rect(height, width, 100, 40, 110, 50), 0.99)}
    return dataset(height, width, 1, anns), dets, extra


def test_detection_overlaps_by_hand():
    gt, dets, extra = biased_subset_case()
    values = detection_overlaps(gt, dets + [extra["on_seen"], extra["background"]])
    np.testing.assert_allclose(values, [0.5] + [0.0] * 9 + [0.5, 0.0])
    # without bbox the mask's tight box is used (the same boxes here)
    no_box = [{k: v for k, v in d.items() if k != "bbox"} for d in dets + [extra["on_seen"]]]
    np.testing.assert_allclose(detection_overlaps(gt, no_box), [0.5] + [0.0] * 9 + [0.5])


@pytest.mark.parametrize("backend", evaluation.BACKENDS)
def test_subset_ignores_unmatched_detections_outside_it(backend):
    """Old rule (ground-truth side only): at IoU >= .70 the 9 poorly segmented squares are unmatched FPs
    ranked above B -> precision 1/10 -> AP 10; at .50-.65 they match ignored GT -> AP 100; mean over the
    10 thresholds (4 x 100 + 6 x 10) / 10 = 46. New rule: the squares have O = 0, outside the subset, so
    they are ignored when unmatched -> AP 100 at every threshold."""
    gt, dets, extra = biased_subset_case()
    old = coco_ap(gt, dets, "segm", [3], keep_gt_ids=[1], backend=backend)
    assert (old["AP"], old["AP50"], old["AP75"]) == pytest.approx((46.0, 100.0, 10.0))
    assert coco_ap(gt, dets, "segm", [3], keep_gt_ids=[1], keep_dt_indices=[0], backend=backend)["AP"] \
        == pytest.approx(100.0)

    for iou_type in ("segm", "bbox"):
        result = evaluate(gt, dets, MANIFEST, iou_types=(iou_type,), backend=backend, fp_attribution=False)
        overlapped = result[iou_type]["unseen_overlapped"]
        assert overlapped["num_gt"] == 1
        if iou_type == "segm":
            assert (overlapped["AP"], overlapped["AP50"], overlapped["AP75"]) == pytest.approx((100.0, 100.0, 100.0))
        else:  # the boxes of the squares are shifted too (box IoU 80/120); B's box is exact
            assert overlapped["AP"] == pytest.approx(100.0)
        assert result[iou_type]["unseen_overlap_bins"]["0.4-0.5"]["AP"] == pytest.approx(100.0)
        assert result["meta"]["subset_rule"] == evaluation.SUBSET_RULE
    # the squares' own bin still scores them: IoU .667 -> TP at .50-.65 only -> AP 40
    assert result["bbox"]["unseen_overlap_bins"]["0.0-0.1"]["AP"] == pytest.approx(40.0)

    # a detection inside the subset is still an FP there: the one on T (O = 0.5 by Eq. 1 on its box) is an
    # unmatched FP ranked first -> precision 1/2 -> AP 50; the one in empty background (O = 0) is ignored
    with_fp = evaluate(gt, dets + [extra["on_seen"]], MANIFEST, iou_types=("segm",), backend=backend,
                       fp_attribution=False)["segm"]
    assert with_fp["unseen_overlapped"]["AP"] == pytest.approx(50.0)
    assert with_fp["unseen_overlap_bins"]["0.4-0.5"]["AP"] == pytest.approx(50.0)
    ignored = evaluate(gt, dets + [extra["background"]], MANIFEST, iou_types=("segm",), backend=backend,
                       fp_attribution=False)["segm"]
    assert ignored["unseen_overlapped"]["AP"] == pytest.approx(100.0)
    # the unseen group (no subset) is unchanged by the rule: every unmatched detection counts there
    assert ignored["unseen"]["AP"] == pytest.approx(100 * raw_cocoeval_stats(gt, dets + [extra["background"]],
                                                                             "segm", UNSEEN)[0])


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


def test_fp_attribution_counts_a_mask_spilling_onto_its_neighbour():
    """30x30 image. Unseen A (cat 3) is an L: rows 0-19 x cols 0-4 plus rows 15-19 x cols 0-19 (175 px), box
    [0, 0, 20, 20]. Seen S (cat 1) rows 0-14 x cols 5-14 (150 px) and unseen U (cat 4) rows 0-4 x cols 15-19
    (25 px) lie inside A's box. The detection has A's box and fills it (400 px): mask IoU 175/400 < 0.5, box
    IoU 1. Its 225 FP pixels: 150 on S (seen), 25 on U (unseen), 50 background (rows 5-14 x cols 15-19)."""
    size = 30
    a = rect(size, size, 0, 0, 5, 20) | rect(size, size, 0, 15, 20, 20)
    s, u = rect(size, size, 5, 0, 15, 15), rect(size, size, 15, 0, 20, 5)
    gt = dataset(size, size, 1, [annotation(1, 1, 3, a), annotation(2, 1, 1, s), annotation(3, 1, 4, u)])
    spill = rect(size, size, 0, 0, 20, 20)
    dets = [detection(1, 3, spill, 0.9)]
    assert dets[0]["bbox"] == gt["annotations"][0]["bbox"] == [0.0, 0.0, 20.0, 20.0]
    mask_iou = mask_utils.iou([mask_utils.encode(np.asfortranarray(spill.astype(np.uint8)))],
                              [mask_utils.encode(np.asfortranarray(a.astype(np.uint8)))], [0])[0, 0]
    assert mask_iou == pytest.approx(175 / 400) and mask_iou < 0.5  # a mask-IoU match would drop it

    unseen = false_positive_attribution(gt, dets, MANIFEST, categories="unseen")
    assert (unseen["background"], unseen["seen"], unseen["unseen"]) == (50, 150, 25)
    assert unseen["total"] == 225 and unseen["num_matched_detections"] == 1
    assert "box IoU" in unseen["rule"]
    # a box that misses (IoU 100/400 with A's box) is not attributed
    off = [detection(1, 3, rect(size, size, 0, 0, 10, 10), 0.9)]
    assert false_positive_attribution(gt, off, MANIFEST)["num_matched_detections"] == 0
    # segm results without bbox fall back to the mask's tight box (here the same box)
    no_box = [{k: v for k, v in dets[0].items() if k != "bbox"}]
    assert false_positive_attribution(gt, no_box, MANIFEST)["total"] == 225


def mask_iou_case() -> tuple[dict, list[dict]]:
    """Box-conditioned track, two 20x20 images.

    Image 1: unseen A (cat 3) = rows/cols 0-9 minus the seen S (cat 1, rows 2-9 x cols 5-19, 120 px) -> 60
    px, box [0, 0, 10, 10], O_A = 40/100 = 0.4 (S's pixels in A's box); O_S = 0. Unseen U (cat 4) rows 12-19
    x cols 0-9 (80 px), O_U = 0. Image 2: unseen W (cat 3) rows/cols 0-9, seen V (cat 2) rows/cols 12-17,
    both O = 0.
    Detections: on A's box, filling it (100 px, spilling onto S): IoU 60/100 = 0.6. On S's box, S minus its
    last column (112 px): IoU 112/120. Two on U's box: U itself (IoU 1) and an empty-ish one (a single
    pixel of U, IoU 1/80); same box IoU, so the tie goes to the higher mask IoU and the other is unpaired.
    On U's box with category 3 (wrong label): pairs with nothing. On W: box shifted one column, box IoU
    90/110 = 0.82 < 0.9 -> W missing. V: no detection -> missing."""
    size = 20
    s = rect(size, size, 5, 2, 20, 10)
    a = rect(size, size, 0, 0, 10, 10) & ~s
    u = rect(size, size, 0, 12, 10, 20)
    w, v = rect(size, size, 0, 0, 10, 10), rect(size, size, 12, 12, 18, 18)
    gt = dataset(size, size, 2, [annotation(1, 1, 3, a), annotation(2, 1, 1, s), annotation(3, 1, 4, u),
                                 annotation(4, 2, 3, w), annotation(5, 2, 2, v)])
    s_found = s.copy()
    s_found[:, 19] = False
    one_pixel = np.zeros_like(u)
    one_pixel[12, 0] = True
    s_box, u_box = gt["annotations"][1]["bbox"], gt["annotations"][2]["bbox"]  # the track's boxes are the GT's
    dets = [detection(1, 3, rect(size, size, 0, 0, 10, 10), 0.1), detection(1, 1, s_found, 0.2) | {"bbox": s_box},
            detection(1, 4, one_pixel, 0.9) | {"bbox": u_box}, detection(1, 4, u, 0.3),
            detection(1, 3, u, 0.4), detection(2, 3, np.roll(w, 1, axis=1), 0.5)]
    return gt, dets


def test_mask_iou_by_overlap_by_hand():
    gt, dets = mask_iou_case()
    assert gt["annotations"][0]["bbox"] == [0.0, 0.0, 10.0, 10.0] and gt["annotations"][0]["area"] == 60
    result = mask_iou_by_overlap(gt, dets, MANIFEST)
    iou_a, iou_s, iou_u = 0.6, 112 / 120, 1.0
    unseen, seen, everything = result["unseen"], result["seen"], result["all"]
    assert (unseen["num_gt"], unseen["missing"]) == (3, 1)
    assert unseen["mIoU"] == pytest.approx(100 * (iou_a + iou_u + 0) / 3)
    assert (seen["num_gt"], seen["missing"]) == (2, 1) and seen["mIoU"] == pytest.approx(100 * iou_s / 2)
    assert (everything["num_gt"], everything["missing"]) == (5, 2)
    assert everything["mIoU"] == pytest.approx(100 * (iou_a + iou_s + iou_u) / 5)

    bins = unseen["overlap_bins"]
    assert list(bins) == [f"{k / 10:.1f}-{(k + 1) / 10:.1f}" for k in range(10)]
    assert bins["0.0-0.1"] == {"mIoU": pytest.approx(100 * iou_u / 2), "num_gt": 2, "missing": 1}  # U, W
    assert bins["0.3-0.4"] == {"mIoU": pytest.approx(100 * iou_a), "num_gt": 1, "missing": 0}  # A
    assert bins["0.5-0.6"] == {"mIoU": None, "num_gt": 0, "missing": 0}
    assert unseen["overlapped"] == {"threshold": 0.3, "mIoU": pytest.approx(100 * iou_a), "num_gt": 1,
                                    "missing": 0}
    assert seen["overlap_bins"]["0.0-0.1"]["num_gt"] == 2 and seen["overlapped"]["num_gt"] == 0
    assert result["rule"] == evaluation.MASK_IOU_RULE and result["min_box_iou"] == 0.9

    # custom bins; a looser box threshold pairs W with its shifted detection (mask IoU 90/110)
    coarse = mask_iou_by_overlap(gt, dets, MANIFEST, bins=(0.0, 0.5, 1.0), min_box_iou=0.8)
    assert list(coarse["unseen"]["overlap_bins"]) == ["0.0-0.5", "0.5-1.0"]
    assert coarse["unseen"]["overlap_bins"]["0.0-0.5"]["num_gt"] == 3
    assert coarse["unseen"]["missing"] == 0
    assert coarse["unseen"]["mIoU"] == pytest.approx(100 * (iou_a + iou_u + 90 / 110) / 3)
    with pytest.raises(ValueError, match="bins must be"):
        mask_iou_by_overlap(gt, dets, MANIFEST, bins=(0.5, 0.2))

    # evaluate() reports the same under segm.mask_iou, and nothing without the option
    reported = evaluate(gt, dets, MANIFEST, iou_types=("segm",), overlap=False, fp_attribution=False,
                        mask_iou=True)["segm"]
    assert reported["mask_iou"] == result
    assert "mask_iou" not in evaluate(gt, dets, MANIFEST, iou_types=("segm",), overlap=False,
                                      fp_attribution=False)["segm"]
    json.dumps(result, allow_nan=False)


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
