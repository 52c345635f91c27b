"""The one pseudo-labeller of every teacher-student head (tspsis.plugin.task_modules.pseudo_labeler) on hand-made tensors.

Checks: the options (one place, errors naming the field; the old head options fail loudly), the student's targets
of Eq. 3/4/6 for every r (threshold, interact, crf on the grid or on a window of it, none), cleaning with the seen
masks (crowd ones included) and the box, warm-up and confidence weights, the weighted mean over RoIs, the has_mask
checks, and that the ground truth of unseen objects is never read.
"""
import math

import numpy as np
import pytest
import torch

pytest.importorskip("mmdet")
from mmdet.registry import TASK_UTILS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.structures.mask import BitmapMasks  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import tspsis.plugin  # noqa: E402,F401  (registers the PseudoLabeler)
from tspsis.core import pseudo  # noqa: E402
from tspsis.plugin.task_modules import pseudo_labeler as pl  # noqa: E402
from tspsis.plugin.utils import partial_supervision  # noqa: E402

NUM_CLASSES = 24


def labeler(**kwargs) -> pl.PseudoLabeler:
    return TASK_UTILS.build(dict(type="PseudoLabeler", **kwargs))


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# ------------------------------------------------------------------------------------------------ options
def test_defaults_and_registry():
    default = pl.build_pseudo_labeler(None)
    assert isinstance(default, pl.PseudoLabeler)
    assert (default.method, default.options, default.clean, default.warmup_iters, default.weighting) == (
        "threshold", {}, True, 0, "none")
    assert pl.build_pseudo_labeler(default) is default
    crf = labeler(post_process=dict(type="crf", thr=0.6, crf_backend="pydensecrf", crf_iterations=3,
                                    crf_params=dict(appearance_sxy=5.0)), clean=False)
    assert crf.options["crf_params"] == pseudo.CRFParams(appearance_sxy=5.0)
    assert crf.post_process["type"] == "crf" and crf.options["thr"] == 0.6


@pytest.mark.parametrize("bad, field", [
    (dict(post_process=dict(type="grabcut")), "post_process.type"),
    (dict(post_process=dict(type="threshold", crf_iterations=3)), "post_process.crf_iterations"),
    (dict(post_process=dict(type="crf", crf_backend="opencv")), "post_process.crf_backend"),
    (dict(weighting="entropy"), "weighting"),
    (dict(warmup_iters=-1), "warmup_iters"),
    (dict(post_process=dict(type="none")), "clean=False"),
])
def test_bad_options_name_the_field(bad, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        labeler(**bad)


@pytest.mark.parametrize("old, new", [("pseudo_mask", "post_process"), ("clean_pseudo", "clean"),
                                      ("pseudo_warmup_iters", "warmup_iters"), ("pseudo_weighting", "weighting")])
def test_old_head_options_fail_loudly(old, new):
    with pytest.raises(TypeError, match=rf"`{old}` -> `pseudo_labeler\.{new}`"):
        pl.reject_old_pseudo_options("SomeHead", {old: 1, "other": 2})
    pl.reject_old_pseudo_options("SomeHead", {"other": 2})  # nothing old: fine


# -------------------------------------------------------------------------------------------- hand-made case
def hand_made_case(teacher_size: int = 8) -> dict:
    """One 32x32 image; seen object A (label 2, mask = top half) and unseen object B (label 5, box [8, 8, 24, 24]).
    Row 0 is A's RoI (its box), row 1 the whole image; the grid is 8x8, so cell k has its centre at pixel
    4k + 2. Mt = 1 everywhere."""
    seen_union = torch.zeros(1, 32, 32, dtype=torch.bool)
    seen_union[0, :16] = True
    gt_targets = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0)).round()
    gt_targets[1] = 0  # a box-only object's target from the loader: zeros
    return dict(gt_targets=gt_targets,
                teacher_logits=torch.full((2, 1, teacher_size, teacher_size), 20.0),
                student_logits=torch.zeros(2, NUM_CLASSES, 8, 8),
                labels=torch.tensor([2, 5]), has_mask=torch.tensor([True, False]),
                rois=torch.tensor([[0.0, 0, 32, 16], [0, 0, 32, 32]]),
                gt_boxes=torch.tensor([[0.0, 0, 32, 16], [8, 8, 24, 24]]),
                seen_union=seen_union, img_idx=torch.tensor([0, 0]))


def expected_unseen_target() -> torch.Tensor:
    """Cells of row 1 inside B's box (centres 10..22 -> cells 2..5) and outside A's mask (rows with centre >= 16
    -> rows 4..7): rows 4-5, columns 2-5."""
    target = torch.zeros(8, 8)
    target[4:6, 2:6] = 1
    return target


def test_threshold_and_cleaning():
    case = hand_made_case()
    case["teacher_logits"].requires_grad_(True)
    targets, weights = labeler()(**case)
    assert torch.equal(targets[0], case["gt_targets"][0])  # seen: the ground truth
    assert torch.equal(targets[1], expected_unseen_target())  # unseen: cleaned r(Mt)
    assert torch.equal(weights, torch.ones(2)) and not targets.requires_grad

    raw, _ = labeler(clean=False)(**case)
    assert torch.equal(raw[1], torch.ones(8, 8))

    full = tspsis.plugin.roi_heads.teacher_student.class_channel_targets(targets, case["labels"], NUM_CLASSES)  # Eq. 3
    assert full.shape == (2, NUM_CLASSES, 8, 8)
    for i, label in enumerate(case["labels"].tolist()):
        assert torch.equal(full[i, label], targets[i])
        assert torch.count_nonzero(torch.cat([full[i, :label], full[i, label + 1:]])) == 0


def test_unseen_ground_truth_is_never_read():
    case = hand_made_case()
    for options in (dict(), dict(warmup_iters=10)):
        reference = labeler(**options)(**case, iteration=0)
        scrambled = dict(case, gt_targets=case["gt_targets"].clone())
        scrambled["gt_targets"][1] = torch.rand(8, 8).round()
        for first, second in zip(reference, labeler(**options)(**scrambled, iteration=0)):
            assert torch.equal(first, second)


def test_high_res_teacher_is_area_averaged():
    case = hand_made_case()
    # 16x16 teacher: in every 2x2 block 3 of 4 cells are sure foreground in the left half of the grid and 1 of 4
    # in the right half -> area means 0.75 and 0.25 -> r(Mt) = left half.
    block_left = torch.tensor([[20.0, 20.0], [20.0, -20.0]])
    block_right = torch.tensor([[20.0, -20.0], [-20.0, -20.0]])
    tiles = torch.cat([block_left.repeat(8, 4), block_right.repeat(8, 4)], dim=1)
    case["teacher_logits"] = tiles.expand(2, 1, 16, 16).clone()
    targets, _ = labeler(clean=False)(**case)
    expected = torch.zeros(8, 8)
    expected[:, :4] = 1
    assert torch.equal(targets[1], expected)


def test_interact_warmup_and_confidence_weights():
    head = labeler(post_process=dict(type="interact"), clean=False, weighting="confidence", warmup_iters=10)
    case = hand_made_case()
    case["teacher_logits"] = torch.full((2, 1, 8, 8), logit(0.4))
    case["student_logits"][1, 5, :4] = logit(0.7)  # (0.4 + 0.7) / 2 >= 0.5 in the top half only (channel l = 5)
    case["student_logits"][1, 5, 4:] = 0.0  # (0.4 + 0.5) / 2 < 0.5
    case["student_logits"][1, 3] = 20.0  # another channel: not read

    targets, weights = head(**case, iteration=3)  # warm-up: unseen objects do not train the student
    assert weights.tolist() == [1.0, 0.0] and torch.count_nonzero(targets[1]) == 0
    targets, weights = head(**case, iteration=10)  # afterwards: r = interact, weight mean(|2 Mt - 1|) = 0.2
    expected = torch.zeros(8, 8)
    expected[:4] = 1
    assert torch.equal(targets[1], expected)
    assert weights[0].item() == 1.0 and weights[1].item() == pytest.approx(0.2, abs=1e-6)
    # Ms given as channel l only: the same
    channel_l = case["student_logits"][torch.arange(2), case["labels"]]
    assert torch.equal(head(**dict(case, student_logits=channel_l), iteration=10).targets, targets)


def test_warmup_reads_the_message_hub():
    from mmengine.logging import MessageHub

    hub = MessageHub.get_current_instance()
    before = hub.get_info("iter", 0)
    try:
        hub.update_info("iter", 4)
        assert labeler(warmup_iters=5)(**hand_made_case()).weights.tolist() == [1.0, 0.0]
        hub.update_info("iter", 5)
        assert labeler(warmup_iters=5)(**hand_made_case()).weights.tolist() == [1.0, 1.0]
    finally:
        hub.update_info("iter", before)


def test_confidence_is_taken_inside_the_box():
    case = hand_made_case()
    teacher = torch.full((8, 8), -20.0)  # sure background (confidence 1) outside B's box...
    teacher[2:6, 2:6] = logit(0.4)  # ...Mt = 0.4 (confidence 0.2) on the cells inside it
    case["teacher_logits"] = teacher.expand(2, 1, 8, 8).clone()
    _, weights = labeler(weighting="confidence")(**case)
    assert weights[1].item() == pytest.approx(0.2, abs=1e-6)


def test_no_post_processing_gives_soft_targets():
    case = hand_made_case(teacher_size=16)
    probs = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 0.98 + 0.01
    case["teacher_logits"] = torch.log(probs / (1 - probs))
    targets, _ = labeler(post_process=dict(type="none"), clean=False)(**case)
    expected = torch.nn.functional.avg_pool2d(probs[1:2], 2)[0, 0]
    torch.testing.assert_close(targets[1], expected, rtol=0, atol=1e-5)


def test_crf_on_the_grid_gets_crops_of_the_unseen_rows_only():
    calls = []

    def images(rows: torch.Tensor) -> torch.Tensor:
        calls.append(rows.tolist())
        return torch.full((len(rows), 3, 8, 8), 100.0)  # textureless: the CRF keeps a confident unary

    case = hand_made_case()
    targets, _ = labeler(post_process=dict(type="crf"))(**case, images=images)
    assert calls == [[1]] and torch.equal(targets[1], expected_unseen_target())
    labeler(post_process=dict(type="crf"), warmup_iters=1)(**case, images=images, iteration=0)
    labeler()(**case, images=images)
    assert calls == [[1]]  # neither in the warm-up nor for another r
    with pytest.raises(ValueError, match="needs the training images"):
        labeler(post_process=dict(type="crf"))(**case)


def test_crf_on_a_window_is_pasted_back_inside_it():
    """BoxInst's geometry: the whole 16x16 stride grid as every row's RoI (units: cells), the CRF on a 28x28 grid
    on the object's box (cells 4..11), pasted back; zero outside the window even where the teacher says
    foreground."""
    gt_masks = torch.zeros(2, 16, 16)
    gt_masks[0, :8, :8] = 1
    boxes = torch.tensor([[0.0, 0, 8, 8], [4, 4, 12, 12]])
    case = dict(gt_targets=gt_masks, teacher_logits=torch.full((2, 16, 16), 20.0),
                student_logits=torch.zeros(2, 16, 16), labels=torch.tensor([2, 5]),
                has_mask=torch.tensor([True, False]), rois=torch.tensor([[0.0, 0, 16, 16]]).expand(2, 4),
                gt_boxes=boxes, seen_union=gt_masks[0:1].bool(), img_idx=torch.zeros(2, dtype=torch.long),
                images=lambda rows: torch.full((len(rows), 3, 28, 28), 100.0), crf_windows=boxes)
    expected = torch.zeros(16, 16)
    expected[4:12, 4:12] = 1
    targets, _ = labeler(post_process=dict(type="crf"), clean=False)(**case)
    assert torch.equal(targets[1], expected)
    expected[4:8, 4:8] = 0  # cleaned: the seen object's mask
    assert torch.equal(labeler(post_process=dict(type="crf"))(**case).targets[1], expected)


def test_weighted_roi_mean_by_hand():
    per_roi = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    loss = pl.weighted_roi_mean(per_roi, torch.tensor([1.0, 0.0, 0.5, 1.0]))
    assert loss.item() == pytest.approx((1 + 1.5 + 4) / 3)
    zero = pl.weighted_roi_mean(per_roi, torch.zeros(4))  # all in the warm-up: 0, still in the graph
    zero.backward()
    assert zero.item() == 0 and torch.equal(per_roi.grad, torch.zeros(4))


# ---------------------------------------------------------------------------------- has_mask, seen masks, crowd
def sample(has_mask: bool = True, crowd: str | None = None) -> DetDataSample:
    """A 32x32 image with objects A (seen, top half) and B (unseen, box [8, 8, 24, 24]), as hand_made_case; crowd:
    an ignored instance covering the left half, of a seen category ('seen') or box-only ('unseen', random mask)."""
    masks = np.zeros((2, 32, 32), np.uint8)
    masks[0, :16] = 1
    data_sample = DetDataSample()
    data_sample.gt_instances = InstanceData(bboxes=torch.tensor([[0.0, 0, 32, 16], [8, 8, 24, 24]]),
                                            labels=torch.tensor([2, 5]), masks=BitmapMasks(masks, 32, 32))
    if has_mask:
        data_sample.gt_instances.has_mask = torch.tensor([True, False])
    if crowd:
        crowd_mask = np.zeros((1, 32, 32), np.uint8)
        if crowd == "seen":
            crowd_mask[0, :, :16] = 1
        else:
            crowd_mask[0] = np.random.default_rng(0).integers(0, 2, (32, 32))
        data_sample.ignored_instances = InstanceData(
            bboxes=torch.tensor([[0.0, 0, 16, 32]]), labels=torch.tensor([2 if crowd == "seen" else 5]),
            masks=BitmapMasks(crowd_mask, 32, 32), has_mask=torch.tensor([crowd == "seen"]))
    return data_sample


def test_missing_has_mask_raises_unless_fully_supervised():
    with pytest.raises(ValueError, match=r"gt_instances\.has_mask.*PackPartialDetInputs"):
        partial_supervision.prepare_partial_instances([sample(has_mask=False)], fully_supervised=False, owner="Head")
    with pytest.raises(ValueError, match=r"Head: `gt_instances\.has_mask`"):
        partial_supervision.has_mask_of(sample(has_mask=False).gt_instances, "Head")
    gt, = partial_supervision.prepare_partial_instances([sample(has_mask=False)], fully_supervised=True, owner="Head")
    assert gt.has_mask.tolist() == [True, True]
    with pytest.raises(ValueError, match="fully_supervised=True, but"):
        partial_supervision.prepare_partial_instances([sample()], fully_supervised=True, owner="Head")


def test_seen_crowd_masks_clear_pseudo_masks_and_unseen_ones_do_not_count():
    def unseen_target(crowd):
        gt, = partial_supervision.prepare_partial_instances([sample(crowd=crowd)], fully_supervised=False, owner="Head")
        case = dict(hand_made_case(), seen_union=partial_supervision.seen_union_masks([gt]))
        return labeler()(**case).targets[1]

    assert torch.equal(unseen_target(None), expected_unseen_target())
    assert torch.equal(unseen_target("unseen"), expected_unseen_target())  # a box-only crowd's mask is no mask
    expected = expected_unseen_target()
    expected[:, :4] = 0  # the seen crowd covers the left half: cell centres < 16
    assert torch.equal(unseen_target("seen"), expected)


def test_seen_union_pads_images_of_different_sizes():
    small = sample().gt_instances
    large = InstanceData(bboxes=torch.tensor([[0.0, 0, 4, 4]]), labels=torch.tensor([1]),
                         masks=BitmapMasks(np.ones((1, 40, 36), np.uint8), 40, 36), has_mask=torch.tensor([True]))
    union = partial_supervision.seen_union_masks([small, large])
    assert union.shape == (2, 40, 36)
    assert union[0, :16, :32].all() and not union[0, 16:].any() and not union[0, :, 32:].any()
    assert union[1].all()
