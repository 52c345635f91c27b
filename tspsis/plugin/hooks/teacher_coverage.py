"""Does the teacher segment the unseen categories at all? A warning that needs no unseen mask.

On a user's own data there is no unseen mask to score the pseudo masks with (what
:class:`~tspsis.plugin.hooks.pseudo_mask_monitor.PseudoMaskMonitorHook` does on the synthetic benchmark). What
training has is enough for a warning: the teacher-student heads log ``teacher_fg_ratio``
(:func:`~tspsis.plugin.roi_heads.teacher_student.teacher_foreground_ratio`: the teacher's mean foreground fraction
inside unseen-category boxes over that inside seen-category boxes, from the boxes and Mt only). When the seen
categories do not cover the unseen categories' shapes and appearances, the class-agnostic teacher learns "the seen
look is foreground" (measured with seen = the six solid-* categories: unseen AP 0.0, pseudo masks near empty, the
student gains nothing): the ratio falls towards 0. At the end of training :class:`TeacherCoverageHook` averages
the ratio over the last ``window`` logged iterations and, below ``threshold``, prints one line that the launcher
shows on the console (``tspsis.core.console.say``); either way it records the average in the runner's message
hub (``tspsis.plugin.hooks.training_summary``), which the runner writes into metrics.json's ``training`` block.

Config (``configs/_base_/models/teacher_student_options.py``; the box-conditioned track's mixin lists it too)::

    custom_hooks = [dict(type='TeacherCoverageHook', window=100, threshold=0.5)]

Heads without a teacher log no ratio: the hook records nothing and says nothing. It only reads logged numbers, so
it changes no result.
"""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from tspsis.core.console import say
from tspsis.plugin.hooks.training_summary import record_training_summary, tail_mean
from tspsis.plugin.roi_heads.teacher_student import TEACHER_FG_RATIO

__all__ = ['DEFAULT_THRESHOLD', 'TeacherCoverageHook', 'teacher_coverage_warning']

# Chosen on held-out data (generator seed 1, the demo's set-up, + ours, training seed 0; docs/coverage_heldout_rows.jsonl,
# docs/results.md "Where the method helps and where it does not"): the ratio was 0.92 on voc and 0.80 on disjoint-shape, whose
# students segment unseen objects (unseen mIoU 56 and 59), 0.41 on disjoint-both (mIoU 21) and 0.18 on
# disjoint-appearance (mIoU 0). 0.5 lies between the seen sets that cover the unseen categories' appearances and those
# that do not.
DEFAULT_THRESHOLD = 0.5


def teacher_coverage_warning(ratio: float) -> str:
    """The warning's text for an averaged ``teacher_fg_ratio``."""
    return (f"the teacher finds {ratio:.2f} times as much foreground inside unseen-category boxes as inside seen ones: "
            "its pseudo masks for unseen categories are largely empty and the student cannot learn those categories "
            "from them; check that the seen categories cover the unseen categories' shapes and appearances")


@HOOKS.register_module()
class TeacherCoverageHook(Hook):
    """At the end of training: the mean ``teacher_fg_ratio`` of the last ``window`` logged iterations, recorded in the
    training's summary as ``teacher_fg_ratio`` = {"mean", "iterations", "threshold", "warning"} and, below
    ``threshold``, said in one line.

    Args:
        window: how many of the last logged values to average (every iteration with seen and unseen objects logs
            one; the teacher's early, untrained iterations are left out when training is longer than ``window``).
        threshold: below it the hook warns (``DEFAULT_THRESHOLD``, chosen on held-out data).
    """

    priority = 'LOW'

    def __init__(self, window: int = 100, threshold: float = DEFAULT_THRESHOLD) -> None:
        if window < 1:
            raise ValueError(f'TeacherCoverageHook: `window` must be >= 1, got {window}')
        if not threshold >= 0:
            raise ValueError(f'TeacherCoverageHook: `threshold` must be >= 0, got {threshold}')
        self.window = int(window)
        self.threshold = float(threshold)

    def after_train(self, runner) -> None:
        tail = tail_mean(runner, f'train/{TEACHER_FG_RATIO}', self.window)
        if tail is None:  # no teacher, or never a batch with seen and unseen objects
            return
        mean, count = tail
        warning = teacher_coverage_warning(mean) if mean < self.threshold else None
        record_training_summary(runner, TEACHER_FG_RATIO, dict(mean=mean, iterations=count,
                                                               threshold=self.threshold, warning=warning))
        if warning is not None:
            say(warning)
