"""tspsis.viz (examples): object selection by overlap, detection matching, and OPMask's CAMs from a trained run."""
import shutil

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from tspsis import lab, viz
from tspsis.core.io import read_json
from tspsis.core.overlap import annotation_overlaps


def _rle(box, size=20):
    mask = np.zeros((size, size), np.uint8, order="F")
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 1
    rle = mask_utils.encode(mask)
    rle["counts"] = rle["counts"].decode()
    return rle


def _dataset():
    anns = [  # image 1: a 10x10 object alone; image 2: object 3 half covered by object 2's box region
        dict(id=1, image_id=1, category_id=1, bbox=[0, 0, 10, 10], area=100, segmentation=_rle((0, 0, 10, 10))),
        dict(id=2, image_id=2, category_id=2, bbox=[5, 0, 10, 10], area=100, segmentation=_rle((5, 0, 15, 10))),
        dict(id=3, image_id=2, category_id=1, bbox=[0, 0, 10, 10], area=50, segmentation=_rle((0, 0, 5, 10))),
    ]
    images = [dict(id=i, file_name=f"{i}.png", height=20, width=20) for i in (1, 2)]
    return dict(images=images, annotations=anns, categories=[dict(id=1, name="a"), dict(id=2, name="b")])


def test_pick_objects_by_overlap():
    data = _dataset()
    overlaps = annotation_overlaps(data)
    assert overlaps[1] == 0.0 and overlaps[3] == pytest.approx(0.5)  # Eq. 1: half of box 3 is object 2
    assert [a["id"] for a in viz.pick_objects(data, [1], overlaps, 5, min_area=0)] == [3, 1]
    assert [a["id"] for a in viz.pick_objects(data, [1], overlaps, 5, min_overlap=0.3, min_area=0)] == [3]
    assert [a["id"] for a in viz.pick_objects(data, [1], overlaps, 5, max_overlap=0.05, min_area=0)] == [1]
    assert viz.pick_objects(data, [1], overlaps, 5, min_area=60) == [data["annotations"][0]]


def test_match_detection_takes_the_best_mask_iou_of_the_same_category():
    data = _dataset()
    ann = data["annotations"][0]
    dets = [dict(image_id=1, category_id=1, score=0.9, segmentation=_rle((0, 0, 5, 10))),    # IoU 0.5
            dict(image_id=1, category_id=2, score=0.9, segmentation=_rle((0, 0, 10, 10))),   # other class
            dict(image_id=1, category_id=1, score=0.2, segmentation=_rle((0, 0, 10, 8)))]    # IoU 0.8
    det, iou = viz.match_detection(dets, ann, 20, 20)
    assert det is dets[2] and iou == pytest.approx(0.8)
    assert viz.match_detection(dets[1:2], ann, 20, 20) == (None, 0.0)
    ious = viz.object_ious(data, [ann], {"m": {1: dets}, "empty": {}})
    assert ious["m"] == [pytest.approx(0.8)] and ious["empty"] == [0.0]


@pytest.mark.slow
def test_opmask_cams_from_a_trained_run(tiny_synth, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_synth, root)
    data = lab.prepare_data("tiny", root)
    run = lab.run("OPMask", "voc2nonvoc", profile="tiny", data_root=root, work_dir=tmp_path / "work")
    val = read_json(data["val_ann"])
    objects = viz.pick_objects(val, [c["id"] for c in val["categories"]], annotation_overlaps(val), 2,
                                     min_area=0)
    cams = viz.opmask_cams(run, val, data["val_images"], objects)
    assert len(cams) == len(objects) == 2
    for cam in cams:  # Eq. 9 on the 7x7 box-head map, min-max normalised
        assert cam.shape == (7, 7) and cam.min() == 0.0 and cam.max() == pytest.approx(1.0)
    assert viz.draw_cams(data["val_images"], val, objects, cams, {c["id"]: c["name"] for c in val["categories"]})


def _image_dir(tmp_path, data):
    import matplotlib.pyplot as plt

    for image in data["images"]:
        plt.imsave(tmp_path / image["file_name"], np.full((image["height"], image["width"], 3), 0.5))
    return tmp_path


def test_a_model_without_matches_is_one_line_of_text_not_a_column_of_empty_panels(tmp_path):
    import matplotlib.pyplot as plt

    data = _dataset()
    objects = data["annotations"][:1]
    match = {1: [dict(image_id=1, category_id=1, score=0.9, segmentation=_rle((0, 0, 10, 8)))]}
    nothing = {1: [dict(image_id=1, category_id=2, score=0.9, segmentation=_rle((0, 0, 10, 10)))]}  # other class
    fig = viz.draw_object_grid(_image_dir(tmp_path, data), data, objects, {"good": match, "empty": nothing},
                                     annotation_overlaps(data), {1: "a", 2: "b"})
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 2 and titles[1].startswith("good") and not any("empty" in t for t in titles)
    assert [t.get_text() for t in fig.texts] == ["empty: no matching detection for any of these objects"]
    grid = viz.draw_image_grid(tmp_path, data, [1], {"good": match, "empty": nothing}, [1], min_score=0.5)
    assert len(grid.axes) == 2 and "empty: no detection of these categories" in grid.texts[0].get_text()
    plt.close(fig)
    plt.close(grid)


def test_cam_panels_have_a_colour_bar_and_the_objects_box(tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    data = _dataset()
    objects = data["annotations"][:2]
    cams = [np.linspace(0, 1, 49).reshape(7, 7)] * 2
    fig = viz.draw_cams(_image_dir(tmp_path, data), data, objects, cams, {1: "a", 2: "b"})
    panels, colour_bars = fig.axes[:4], fig.axes[4:]
    assert len(colour_bars) == 1 and "CAM" in colour_bars[0].get_ylabel()
    for ax in panels:  # the ground-truth box, on the crop and on the map
        boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert len(boxes) == 1
    x, y, w, h = objects[1]["bbox"]
    box = next(p for p in fig.axes[3].patches if isinstance(p, Rectangle))
    assert (box.get_x(), box.get_y(), box.get_width(), box.get_height()) == (x, y, w, h)
    plt.close(fig)
