"""The files of a run's work dir, named in one place: the request record (``REQUEST_FILE``, written by
``tspsis.engine.launch``), the metrics (``METRICS_FILE``, written by ``tspsis.engine.runner`` when a training and its
test pass finished), a test's own ``test-<name>.*`` files, and mmengine's ``last_checkpoint`` marker; ``Run`` is
where a finished run left its results."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

REQUEST_FILE = "request.json"  # a training's request record (tspsis.engine.request.RunRequest.record)
METRICS_FILE = "metrics.json"  # a training's metrics and its `run` block
LAST_CHECKPOINT_FILE = "last_checkpoint"  # mmengine's marker: the path of the newest checkpoint


def request_file_of_test(name: str) -> str:
    """The request record of ``test --name NAME`` (never ``REQUEST_FILE``: the training's stays its identity)."""
    return f"test-{name}.{REQUEST_FILE}"


def metrics_file_of_test(name: str) -> str:
    """What ``test --name NAME`` writes in the work dir (never ``METRICS_FILE``)."""
    return f"test-{name}.{METRICS_FILE}"


def default_test_name(checkpoint: str | None, cfg_options: list[str]) -> str:
    """The default ``--name`` of a test: the checkpoint's stem and the options' last key parts, e.g.
    ``iter_12-test_mask_head-teacher`` (a long one is cut and ends in a hash of the whole)."""
    import hashlib

    parts = [Path(checkpoint).stem if checkpoint else "no-checkpoint"]
    for option in cfg_options:
        key, _, value = option.partition("=")
        parts.append(f"{key.rsplit('.', 1)[-1]}-{Path(value).name or value}")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts)).strip("_")
    if len(name) > 80:
        name = name[:69] + "-" + hashlib.sha256(name.encode()).hexdigest()[:10]
    return name


def last_checkpoint(work_dir: Path) -> str | None:
    """The checkpoint mmengine's ``last_checkpoint`` marker in ``work_dir`` names, if there is one."""
    marker = work_dir / LAST_CHECKPOINT_FILE
    return marker.read_text().strip() if marker.is_file() else None


@dataclass(frozen=True)
class Run:
    """Where a finished run left its results."""

    work_dir: Path
    metrics_path: Path
    checkpoint: Path | None

    @property
    def metrics(self) -> dict:
        return json.loads(self.metrics_path.read_text())


def completed_run(work_dir: Path, metrics_file: str = METRICS_FILE) -> Run | None:
    """The run in ``work_dir`` if it finished training and testing (or, with ``metrics_file`` a test's file,
    that test), else None."""
    metrics_path = work_dir / metrics_file
    if not metrics_path.is_file():
        return None
    meta = json.loads(metrics_path.read_text()).get("run", {})
    checkpoint = Path(meta["checkpoint"]) if meta.get("checkpoint") else None
    if not meta.get("complete") or (checkpoint is not None and not checkpoint.is_file()):
        return None
    return Run(work_dir, metrics_path, checkpoint)
