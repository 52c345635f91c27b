"""Attribute confusion of a detector (tspsis.eval.attributes): counts worked out by hand, AP equal to pycocotools on a
dataset relabelled by hand."""
import copy
import math

import pytest

from tspsis.eval import coco_ap
from tspsis.eval.attributes import SIZE_BUCKETS, attribute_accuracy, attribute_box_ap, merged_by

CATEGORIES = [{"id": 1, "name": "red-square", "colour": "red", "shape": "square"},
              {"id": 2, "name": "blue-square", "colour": "blue", "shape": "square"},
              {"id": 3, "name": "red-circle", "colour": "red", "shape": "circle"},
              {"id": 4, "name": "blue-circle", "colour": "blue", "shape": "circle"}]
GROUND_TRUTH = {
    "images": [{"id": 1, "width": 100, "height": 100}],
    "categories": CATEGORIES,
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
                    {"id": 2, "image_id": 1, "category_id": 4, "bbox": [50, 50, 30, 30], "area": 900, "iscrowd": 0}]}


def _detection(category_id, bbox, score):
    return {"image_id": 1, "category_id": category_id, "bbox": bbox, "score": score}


DETECTIONS = [
    _detection(2, [10, 10, 20, 20], 0.9),   # finds the red square: shape right, colour wrong
    _detection(2, [50, 50, 30, 30], 0.8),   # finds the blue circle: colour right, shape wrong
    _detection(1, [11, 11, 20, 20], 0.7),   # a duplicate on the red square (IoU 0.82): that object is taken
    _detection(1, [80, 0, 10, 10], 0.95),   # no object there
    _detection(4, [50, 50, 30, 30], 0.1),   # right in every way, but below the score threshold
]


@pytest.mark.parametrize("attribute, accuracy", [("shape", 0.5), ("colour", 0.5)])
def test_of_the_confident_detections_that_find_an_object_the_share_naming_its_attribute(attribute, accuracy):
    assert attribute_accuracy(GROUND_TRUTH, DETECTIONS, attribute) == {"accuracy": accuracy, "matched": 2}


def test_a_lower_score_threshold_admits_a_detection_only_if_its_object_is_still_free():
    # the 0.1 detection is the blue circle's second: COCO's greedy matching gave that object to the 0.8 one
    assert attribute_accuracy(GROUND_TRUTH, DETECTIONS, "shape", min_score=0.05)["matched"] == 2
    alone = [d for d in DETECTIONS if d["bbox"] != [50, 50, 30, 30] or d["score"] < 0.5]
    assert attribute_accuracy(GROUND_TRUTH, alone, "shape", min_score=0.05) == {"accuracy": 1.0, "matched": 2}


def test_an_area_range_leaves_the_other_objects_out():
    # the red square (400 px) is small, the blue circle (900 px) too; only the circle is above 500
    assert attribute_accuracy(GROUND_TRUTH, DETECTIONS, "colour", area_range=(500, 1e9)) == {"accuracy": 1.0,
                                                                                              "matched": 1}
    assert attribute_accuracy(GROUND_TRUTH, DETECTIONS, "colour", area_range=SIZE_BUCKETS["large"])["matched"] == 0


def test_no_detection_that_finds_an_object_gives_no_accuracy_and_bad_arguments_say_why():
    assert math.isnan(attribute_accuracy(GROUND_TRUTH, DETECTIONS[3:4], "shape")["accuracy"])
    with pytest.raises(ValueError, match="no field 'size'"):
        attribute_accuracy(GROUND_TRUTH, DETECTIONS, "size")
    with pytest.raises(ValueError, match="iou must be one of COCO's thresholds"):
        attribute_accuracy(GROUND_TRUTH, DETECTIONS, "shape", iou=0.52)


def test_merged_ap_equals_pycocotools_on_the_dataset_relabelled_by_hand():
    by_shape = copy.deepcopy(GROUND_TRUTH)
    by_shape["categories"] = [{"id": 1, "name": "square"}, {"id": 2, "name": "circle"}]
    shape_id = {1: 1, 2: 1, 3: 2, 4: 2}
    for annotation in by_shape["annotations"]:
        annotation["category_id"] = shape_id[annotation["category_id"]]
    relabelled = [dict(d, category_id=shape_id[d["category_id"]]) for d in DETECTIONS]
    records = attribute_box_ap(GROUND_TRUTH, DETECTIONS, ["shape"])
    assert records["shape"] == coco_ap(by_shape, relabelled, "bbox")
    assert records["category"] == coco_ap(GROUND_TRUTH, DETECTIONS, "bbox")
    assert merged_by(GROUND_TRUTH, DETECTIONS, "shape") == (by_shape, relabelled)


def test_class_agnostic_ap_does_not_depend_on_the_names_the_detections_give():
    renamed = [dict(d, category_id=5 - d["category_id"]) for d in DETECTIONS]
    agnostic = attribute_box_ap(GROUND_TRUTH, DETECTIONS)["class-agnostic"]
    assert agnostic == attribute_box_ap(GROUND_TRUTH, renamed)["class-agnostic"]
    # by hand, at IoU 0.5 by score: miss, hit, hit, duplicate, duplicate -> 2/3 precision up to full recall
    assert agnostic["AP50"] == pytest.approx(200 / 3)
    # category-wise: red square 0.95 miss, 0.7 hit (1/2); blue circle its 0.1 hit (1); the others have no object
    assert attribute_box_ap(GROUND_TRUTH, DETECTIONS)["category"]["AP50"] == pytest.approx(75.0)
