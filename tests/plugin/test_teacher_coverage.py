"""The teacher's foreground ratio (unseen-category RoIs over seen ones, from Mt and the boxes only) and the hook that
warns when it is low: values worked out by hand, the warning below the threshold and silence above it."""
import pytest
import torch
from mmengine.logging import MessageHub

from tspsis.core.console import SAY_PREFIX
from tspsis.plugin.hooks.teacher_coverage import TeacherCoverageHook, teacher_coverage_warning
from tspsis.plugin.hooks.training_summary import TRAINING_SUMMARY_INFO
from tspsis.plugin.roi_heads.teacher_student import TEACHER_FG_RATIO, teacher_foreground_ratio

BIG = 20.0  # a logit far from 0: sigmoid 1 (or 0) for the threshold


def _teacher_logits(foreground_pixels: list[int], size: int = 4) -> torch.Tensor:
    """(P, 1, size, size) logits with the first foreground_pixels[i] pixels (row-major) of RoI i foreground."""
    logits = torch.full((len(foreground_pixels), 1, size * size), -BIG)
    for row, count in enumerate(foreground_pixels):
        logits[row, 0, :count] = BIG
    return logits.view(len(foreground_pixels), 1, size, size)


def test_ratio_by_hand():
    # 4 x 4 RoIs. seen: 8/16 and 16/16 -> mean 0.75; unseen: 3/16, 0/16, 6/16 -> mean 0.1875; ratio 0.25
    logits = _teacher_logits([8, 3, 16, 0, 6])
    has_mask = torch.tensor([True, False, True, False, False])
    ratio = teacher_foreground_ratio(logits, has_mask)
    assert ratio.dim() == 0 and not ratio.requires_grad
    assert float(ratio) == pytest.approx(0.25)
    # Mt exactly at the threshold counts as foreground (r(Mt) = Mt >= 0.5): one pixel of 16 of the unseen RoI
    at_threshold = torch.full((2, 1, 4, 4), -BIG)
    at_threshold[0] = BIG
    at_threshold[1, 0, 0, 0] = 0.0
    assert float(teacher_foreground_ratio(at_threshold, torch.tensor([True, False]))) == pytest.approx(1 / 16)


def test_ratio_is_detached_and_undefined_without_both_kinds():
    logits = _teacher_logits([8, 4]).requires_grad_(True)
    ratio = teacher_foreground_ratio(logits, torch.tensor([True, False]))
    assert float(ratio) == pytest.approx(0.5) and ratio.grad_fn is None
    assert teacher_foreground_ratio(logits, torch.tensor([True, True])) is None      # no unseen RoI
    assert teacher_foreground_ratio(logits, torch.tensor([False, False])) is None    # no seen RoI
    assert teacher_foreground_ratio(_teacher_logits([0, 4]), torch.tensor([True, False])) is None  # seen: nothing
    assert "loss" not in TEACHER_FG_RATIO  # mmengine's parse_losses: logged, not summed into the loss


class _Runner:
    """What the hook reads: a message hub (mmengine's own)."""

    def __init__(self, ratios: list[float]) -> None:
        self.message_hub = MessageHub(f"teacher-coverage-{id(self)}")
        for value in ratios:
            self.message_hub.update_scalar(f"train/{TEACHER_FG_RATIO}", value)


def test_hook_warns_below_the_threshold(capsys):
    # the last window=3 values: 0.1, 0.2, 0.3 -> 0.2 < 0.3; the early 0.9 is outside the window
    runner = _Runner([0.9, 0.1, 0.2, 0.3])
    TeacherCoverageHook(window=3, threshold=0.3).after_train(runner)
    out = capsys.readouterr().out.splitlines()
    assert out == [SAY_PREFIX + teacher_coverage_warning(0.2)]
    assert "0.20 times as much foreground inside unseen-category boxes" in out[0] and "appearances" in out[0]
    summary = runner.message_hub.get_info(TRAINING_SUMMARY_INFO)[TEACHER_FG_RATIO]
    assert summary["mean"] == pytest.approx(0.2) and summary["iterations"] == 3
    assert summary["threshold"] == 0.3 and summary["warning"] == teacher_coverage_warning(0.2)


def test_hook_is_silent_above_the_threshold_and_without_a_teacher(capsys):
    runner = _Runner([0.1, 0.8, 1.0])
    TeacherCoverageHook(window=2, threshold=0.3).after_train(runner)
    assert capsys.readouterr().out == ""
    summary = runner.message_hub.get_info(TRAINING_SUMMARY_INFO)[TEACHER_FG_RATIO]
    assert summary["mean"] == pytest.approx(0.9) and summary["warning"] is None
    no_teacher = _Runner([])
    TeacherCoverageHook().after_train(no_teacher)
    assert capsys.readouterr().out == "" and no_teacher.message_hub.get_info(TRAINING_SUMMARY_INFO) is None


def test_hook_checks_its_arguments():
    with pytest.raises(ValueError, match="window"):
        TeacherCoverageHook(window=0)
    with pytest.raises(ValueError, match="threshold"):
        TeacherCoverageHook(threshold=-1.0)


def test_the_default_threshold_separates_the_held_out_runs(capsys):
    """On the held-out coverage runs (docs/coverage_heldout_rows.jsonl: + ours on data of generator seed 1), the
    default threshold warns where the seen categories miss the unseen categories' appearances (disjoint-appearance,
    disjoint-both: unseen mIoU 0 and 21) and stays silent on voc and disjoint-shape (56 and 59)."""
    import json
    from pathlib import Path

    rows = [json.loads(line) for line in
            (Path(__file__).resolve().parents[2] / "docs" / "coverage_heldout_rows.jsonl").read_text().splitlines()]
    warned = {}
    for row in rows:
        TeacherCoverageHook().after_train(_Runner([row["teacher_fg_ratio"]]))
        warned[row["seen"]] = capsys.readouterr().out != ""
    assert warned == {"voc": False, "disjoint-shape": False, "disjoint-appearance": True, "disjoint-both": True}
