"""What a work dir keeps of each run: ``experiment.json`` (the row it trains: method, direction, profile, track, seen
split; written by :mod:`tspsis.lab.runs` before training) names ``request.json`` (what it composes: config, mixins,
options, data root, iterations, training seed, key; ``tspsis.engine.request.RunRequest.record``), beside the
runner's ``metrics.json`` (what it measured, and the ``run`` block: completion, wall seconds, seconds per iteration).

:func:`run_records` walks a work dir once for everything that reads these pairs: the time estimate before training
(``estimate_seconds``) and the scripts that tabulate or compare runs (``scripts/run_timing.py``,
``scripts/metric_table.py``, ``scripts/compare_metrics.py``).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from tspsis.engine.work_dir import METRICS_FILE

__all__ = ["EXPERIMENT_FILE", "run_records"]

EXPERIMENT_FILE = "experiment.json"


def run_records(work_dir: str | Path) -> Iterator[tuple[Path, dict, dict]]:
    """(run folder, experiment record, metrics) of every run folder directly under ``work_dir`` that has both
    files, in folder-name order; a folder whose files cannot be read or parsed (a run still starting) is skipped.
    The experiment record is ``experiment.json`` over the request record it names (``seed``, ``max_iters``,
    ``config`` ... come from there; a record without ``request``, from before requests were recorded apart, holds
    them itself)."""
    for experiment_path in sorted(Path(work_dir).glob(f"*/{EXPERIMENT_FILE}")):
        try:
            experiment = json.loads(experiment_path.read_text())
            request = experiment.get("request")
            if request is not None:
                experiment = {**json.loads((experiment_path.parent / request).read_text()), **experiment}
            metrics = json.loads((experiment_path.parent / METRICS_FILE).read_text())
        except (OSError, ValueError):
            continue
        yield experiment_path.parent, experiment, metrics
