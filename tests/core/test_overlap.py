"""Object overlap O_i (Eq. 1) and its bins, checked against hand-computed values and a brute-force reference."""

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from tspsis.core.overlap import (OVERLAP_BIN_EDGES, annotation_overlaps, decode_segmentation, object_overlap,
                                 overlap_bin, overlap_bins)


def _rect(height: int, width: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _brute_force(boxes: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Eq. 1 pixel by pixel: count mask pixels whose centre lies in the half-open box."""
    n, height, width = masks.shape
    cy, cx = np.mgrid[0:height, 0:width] + 0.5
    out = np.zeros(n)
    for i in range(n):
        x1, y1, x2, y2 = boxes[i]
        inside = (cx >= x1) & (cx < x2) & (cy >= y1) & (cy < y2)
        area = (x2 - x1) * (y2 - y1)
        best = max((np.count_nonzero(inside & masks[j]) for j in range(n) if j != i), default=0)
        out[i] = min(best / area, 1.0) if area > 0 else 0.0
    return out


def test_two_overlapping_squares_modal():
    # B (5..15) lies on top of A (0..10): A's modal mask loses the shared 5x5 corner.
    b_mask = _rect(20, 20, 5, 5, 15, 15)
    a_mask = _rect(20, 20, 0, 0, 10, 10) & ~b_mask
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15]], dtype=float)
    o = object_overlap(boxes, np.stack([a_mask, b_mask]))
    # O_A = 25 pixels of B inside A's 100-pixel box; A has no visible pixel inside B's box
    np.testing.assert_allclose(o, [0.25, 0.0])


def test_mask_fully_inside_another_box():
    small = _rect(20, 20, 2, 2, 6, 6)
    big = _rect(20, 20, 0, 0, 20, 20) & ~small
    boxes = np.array([[0, 0, 20, 20], [2, 2, 6, 6]], dtype=float)
    np.testing.assert_allclose(object_overlap(boxes, np.stack([big, small])), [16 / 400, 0.0])


def test_non_intersecting_masks_still_overlap_through_the_box():
    # A is a thin L along the top and left edges of its box; B sits in the empty corner of A's box.
    a = _rect(12, 12, 0, 0, 10, 1) | _rect(12, 12, 0, 0, 1, 10)
    b = _rect(12, 12, 6, 6, 9, 9)
    far = _rect(12, 12, 11, 11, 12, 12)
    assert not (a & b).any()
    boxes = np.array([[0, 0, 10, 10], [6, 6, 9, 9], [11, 11, 12, 12]], dtype=float)
    np.testing.assert_allclose(object_overlap(boxes, np.stack([a, b, far])), [9 / 100, 0.0, 0.0])


def test_object_itself_is_excluded():
    mask = _rect(8, 8, 1, 1, 5, 5)
    box = np.array([[1, 1, 5, 5]], dtype=float)
    assert object_overlap(box, mask[None]).tolist() == [0.0]
    # a duplicate of the object is another object j != i: it covers the whole box
    np.testing.assert_allclose(object_overlap(np.repeat(box, 2, 0), np.stack([mask, mask])), [1.0, 1.0])


def test_partial_pixel_box_uses_pixel_centres_and_continuous_area():
    full = np.ones((4, 5), dtype=bool)
    empty = np.zeros((4, 5), dtype=bool)
    # columns with centre in [0.6, 3.4): x = 1, 2; rows with centre in [0, 2): y = 0, 1 -> 4 pixels; area 5.6
    boxes = np.array([[0.6, 0.0, 3.4, 2.0], [0, 0, 5, 4]], dtype=float)
    np.testing.assert_allclose(object_overlap(boxes, np.stack([empty, full]))[0], 4 / 5.6)
    # half-open: the centre 0.5 is in [0.5, 2.5), the centre 2.5 is not -> 2 columns x 1 row over area 2
    boxes = np.array([[0.5, 1.0, 2.5, 2.0], [0, 0, 5, 4]], dtype=float)
    np.testing.assert_allclose(object_overlap(boxes, np.stack([empty, full]))[0], 2 / 2.0)
    # a sliver box holding one centre: 1 pixel / 0.04 area is clipped to 1; a zero-area box gives 0
    boxes = np.array([[0.4, 0.4, 0.6, 0.6], [1, 1, 1, 3], [0, 0, 5, 4]], dtype=float)
    np.testing.assert_allclose(object_overlap(boxes, np.stack([empty, empty, full]))[:2], [1.0, 0.0])


def test_box_outside_the_image_counts_only_image_pixels():
    full = np.ones((4, 4), dtype=bool)
    boxes = np.array([[-2, -2, 2, 2], [0, 0, 4, 4]], dtype=float)
    np.testing.assert_allclose(object_overlap(boxes, np.stack([np.zeros_like(full), full]))[0], 4 / 16)


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n, height, width = 12, 23, 31
    masks = np.zeros((n, height, width), dtype=bool)
    boxes = np.zeros((n, 4))
    for k in range(n):
        x0, y0 = rng.integers(0, width - 2), rng.integers(0, height - 2)
        x1, y1 = rng.integers(x0 + 1, width + 1), rng.integers(y0 + 1, height + 1)
        masks[k, y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) < 0.6
        # fractional boxes that may poke out of the image, not necessarily tight
        boxes[k] = [x0 - rng.random() * 2, y0 - rng.random() * 2, x1 + rng.random() * 2, y1 + rng.random() * 2]
    np.testing.assert_allclose(object_overlap(boxes, masks), _brute_force(boxes, masks))


def test_torch_input_returns_tensor_and_empty_input():
    masks = torch.zeros(2, 6, 6, dtype=torch.bool)
    masks[1, 0:3, 0:3] = True
    out = object_overlap(torch.tensor([[0.0, 0.0, 6.0, 6.0], [0.0, 0.0, 3.0, 3.0]]), masks)
    assert isinstance(out, torch.Tensor) and out.shape == (2,)
    torch.testing.assert_close(out, torch.tensor([9 / 36, 0.0], dtype=torch.float64))
    assert object_overlap(np.zeros((0, 4)), np.zeros((0, 6, 6), dtype=bool)).shape == (0,)
    with pytest.raises(ValueError, match="masks must be"):
        object_overlap(np.zeros((2, 4)), np.zeros((3, 6, 6), dtype=bool))


def test_bins_follow_the_papers_rule():
    assert OVERLAP_BIN_EDGES == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    values = [0.0, 0.05, 0.1, 0.1000001, 0.3, 0.31, 0.9, 0.95, 1.0]
    expected = [0, 0, 0, 1, 2, 3, 8, 9, 9]
    assert overlap_bins(values).tolist() == expected
    assert [overlap_bin(v) for v in values] == expected
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        overlap_bins([1.5])


def _coco_dataset() -> dict:
    """Image 1: a polygon square and an RLE blob overlapping it (amodal masks); image 2: the blob alone."""
    height, width = 10, 12
    blob = _rect(height, width, 3, 3, 7, 6)
    rle = mask_utils.encode(np.asfortranarray(blob.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return {
        "images": [{"id": 1, "height": height, "width": width, "file_name": "a.png"},
                   {"id": 2, "height": height, "width": width, "file_name": "b.png"}],
        "categories": [{"id": 1, "name": "sq"}, {"id": 2, "name": "blob"}],
        "annotations": [
            # polygon along the pixel borders: covers pixels x 0..5, y 0..5
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [0, 0, 6, 6], "area": 36, "iscrowd": 0,
             "segmentation": [[0, 0, 6, 0, 6, 6, 0, 6]]},
            {"id": 11, "image_id": 1, "category_id": 2, "bbox": [3, 3, 4, 3], "area": 12, "iscrowd": 0,
             "segmentation": rle},
            {"id": 12, "image_id": 2, "category_id": 2, "bbox": [3, 3, 4, 3], "area": 12, "iscrowd": 0,
             "segmentation": rle},
        ],
    }


def test_annotation_overlaps_decodes_polygons_and_rle(tmp_path):
    import json

    dataset = _coco_dataset()
    square = _rect(10, 12, 0, 0, 6, 6)
    blob = _rect(10, 12, 3, 3, 7, 6)
    # blob pixels inside the square's box: x 3..5, y 3..5 -> 9 / 36; square pixels inside blob box: 3x3 / 12
    expected = {10: 9 / 36, 11: 9 / 12, 12: 0.0}
    got = annotation_overlaps(dataset)
    assert got.keys() == expected.keys()
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()))
    np.testing.assert_allclose(
        object_overlap(np.array([[0, 0, 6, 6], [3, 3, 7, 6]], float), np.stack([square, blob])), [9 / 36, 9 / 12])
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(dataset))
    assert annotation_overlaps(COCO(str(path))) == got


def test_annotation_overlaps_rejects_box_only_instances():
    dataset = _coco_dataset()
    del dataset["annotations"][1]["segmentation"]
    with pytest.raises(ValueError, match=r"annotation 11: field 'segmentation'"):
        annotation_overlaps(dataset)


def test_decode_segmentation_accepts_every_coco_format():
    mask = _rect(6, 7, 1, 2, 4, 5)
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    column_major = mask.T.ravel()
    runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, column_major.astype(int), -1]) != 0)).tolist()
    uncompressed = {"size": [6, 7], "counts": ([0] if column_major[0] else []) + runs}
    for segmentation in ([[1, 2, 4, 2, 4, 5, 1, 5]], uncompressed, rle,
                         {"size": rle["size"], "counts": rle["counts"].decode("ascii")}):
        np.testing.assert_array_equal(decode_segmentation(segmentation, 6, 7), mask)
    with pytest.raises(ValueError, match="unsupported segmentation"):
        decode_segmentation("oops", 6, 7)
