"""What hooks record about a training for its metrics.json: a ``{name: value}`` dict kept in the runner's message
hub under ``TRAINING_SUMMARY_INFO``, which ``tspsis.engine.runner`` writes as metrics.json's ``training`` block.
Beside the test metrics, these numbers say how the training went (the teacher's foreground ratio, the pseudo masks'
IoU at the end) without a look at the training log."""
from __future__ import annotations

__all__ = ['TRAINING_SUMMARY_INFO', 'record_training_summary', 'tail_mean']

TRAINING_SUMMARY_INFO = 'tspsis_training_summary'  # runtime info of mmengine's message hub


def record_training_summary(runner, name: str, value) -> None:
    """Add ``{name: value}`` to the training's summary (``TRAINING_SUMMARY_INFO`` of ``runner.message_hub``)."""
    hub = runner.message_hub
    hub.update_info(TRAINING_SUMMARY_INFO, dict(hub.get_info(TRAINING_SUMMARY_INFO) or {}, **{name: value}))


def tail_mean(runner, scalar: str, count: int) -> tuple[float, int] | None:
    """(mean, how many) of the last ``count`` finite values the message hub logged as ``scalar`` (e.g.
    ``train/pseudo_mask_iou``), or None if it logged none."""
    import math

    hub = runner.message_hub
    if scalar not in hub.log_scalars:
        return None
    values = [float(v) for v in hub.get_scalar(scalar).data[0][-count:]]
    values = [v for v in values if math.isfinite(v)]
    return (sum(values) / len(values), len(values)) if values else None
