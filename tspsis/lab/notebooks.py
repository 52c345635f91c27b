"""Headless execution of ``notebooks/NN_*.ipynb`` with papermill (``tspsis run-notebooks``).

Each notebook runs with the parameters ``profile``, ``data_root``, ``work_dir``, ``gpus`` (None: every visible
GPU, or the CPU), ``nodes`` (machines: > 1 trains with ``torchrun --nnodes``, every node running the same
notebooks with its ``$NODE_RANK``, see ``tspsis.engine.launch.resolve_nodes``), ``seed`` (of the synthetic data),
``train_seed`` (the training seed, a list of seeds: every run is trained once per seed and the tables show mean ±
std, or None: the profile's seeds) and ``output_dir`` (its own folder under the run folder, where it writes
``metrics.json``, figures and ``tables.md``). A profile that needs a GPU stops before anything runs when none is
visible (``tspsis.lab.profiles.require_device``). The chain stops at the first failing notebook; its executed copy
keeps the partial output and the failing cell is named. Notebooks that already completed in the same run folder
are not re-executed, so a re-run resumes; ``force=True`` (``--force``) executes them again. ``results.md`` gathers
every notebook's ``tables.md``. Trained models live in ``work_dir`` (the run cache of :mod:`tspsis.lab`),
so notebooks share them and a re-executed notebook does not retrain unless the config, the model code or the data
changed.

SIGINT / SIGTERM stop the kernel and the trainings it started before ``run-notebooks`` itself (``tspsis.core.signals``);
the same command then goes on where it stopped.

Executed notebooks stay readable: the kernel gets ``TSPSIS_PROGRESS=lines`` (training progress as a few plain
lines, ``tspsis.engine.progress.progress_style``) and ``TQDM_DISABLE=1`` (no carriage-return bars in stored outputs),
and ``prepare_kernel`` (called by ``Context.create``) silences the ``pkg_resources`` deprecation warning that
mmengine's imports repeat.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from tspsis.core.io import NOTEBOOK_COMPLETE_KEY
from tspsis.core.paths import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
RUNS = REPO_ROOT / "papermill_runs"


PARAMETERS: tuple[str, ...] = ("profile", "data_root", "work_dir", "gpus", "nodes", "seed", "train_seed",
                               "output_dir")
_RELATIVE_IMAGE = re.compile(r"(!\[[^\]]*\]\()([^/)][^)]*\))")  # ![caption](file.png), not a URL or path
# What the papermill kernel gets in its environment (see the module docstring).
KERNEL_ENV: dict[str, str] = {"TSPSIS_PROGRESS": "lines", "TQDM_DISABLE": "1"}


def notebook_parameters(profile: str, output_dir: Path, gpus: int | None = None, seed: int = 0,
                        data_root: Path | None = None, work_dir: Path | None = None,
                        train_seed: int | Iterable[int] | None = None, nodes: int = 1) -> dict:
    """The parameters every notebook's ``parameters`` cell declares (``PARAMETERS``); data_root / work_dir
    default to data/synth/<profile> (data/coco) and work_dirs/<profile> (those of the profile whose data it runs
    on, ``Profile.shares_data_of``); train_seed: one seed, a list, or None (the profile's
    ``Schedule.train_seeds``); nodes: the machines each run trains on."""
    from tspsis.lab.profiles import default_data_root, default_work_dir

    data_root = Path(data_root) if data_root else default_data_root(profile)
    work_dir = Path(work_dir) if work_dir else default_work_dir(profile)
    train_seed = train_seed if train_seed is None or isinstance(train_seed, int) else [int(s) for s in train_seed]
    return dict(profile=profile, data_root=str(data_root.resolve()), work_dir=str(work_dir.resolve()), gpus=gpus,
                nodes=int(nodes), seed=seed, train_seed=train_seed, output_dir=str(Path(output_dir).resolve()))


def prepare_kernel() -> None:
    """Once per notebook kernel (``experiments.Context.create`` calls it): silence the ``pkg_resources``
    deprecation warning that mmengine's imports print again and again (``tspsis.quiet_pkg_resources``, which
    importing tspsis already did; again here in case the notebook reset the filters)."""
    from tspsis import quiet_pkg_resources

    quiet_pkg_resources()


@contextlib.contextmanager
def _environ_updated(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` updated with ``values`` (the papermill kernel inherits it), restored afterwards."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def discover(only: list[str] | None = None) -> list[Path]:
    found = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [nb for nb in found if nb.name[:2] in only]
        missing = set(only) - {nb.name[:2] for nb in found}
        if missing:
            raise ValueError(f"--only: no notebook numbered {', '.join(sorted(missing))} in {NOTEBOOKS}")
    if not found:
        raise FileNotFoundError(f"no notebooks NN_*.ipynb in {NOTEBOOKS}")
    return found


def _complete(output_dir: Path) -> bool:
    metrics = output_dir / "metrics.json"
    return metrics.is_file() and json.loads(metrics.read_text()).get(NOTEBOOK_COMPLETE_KEY, False)


def gather_results(run_dir: Path) -> Path:
    """Concatenate the ``tables.md`` of every executed notebook into ``run_dir/results.md`` (figure links are
    made relative to ``run_dir``)."""
    parts = [f"# Results of `{run_dir.name}`\n"]
    for tables in sorted(run_dir.glob("*/tables.md")):
        text = _RELATIVE_IMAGE.sub(rf"\g<1>{tables.parent.name}/\g<2>", tables.read_text().strip())
        parts.append(f"\n## {tables.parent.name}\n\n{text}\n")
    out = run_dir / "results.md"
    tmp = out.with_suffix(".md.part")
    tmp.write_text("".join(parts))
    tmp.replace(out)
    return out


def run_notebooks(profile: str, *, only: list[str] | None = None, out: Path | None = None,
                  gpus: int | None = None, seed: int = 0, train_seed: int | Iterable[int] | None = None,
                  data_root: Path | None = None, work_dir: Path | None = None, force: bool = False,
                  nodes: int = 1) -> int:
    """Execute the notebooks in order; returns a process exit code (0 = all ran).

    out: the run folder (default papermill_runs/<date>-<profile>); data_root / work_dir: see
    ``notebook_parameters`` (the tests point them at temporary folders). force: execute notebooks that are
    already complete in ``out`` again. nodes > 1: run the same call on every node (its own ``out``), with
    ``$NODE_RANK`` and ``$MASTER_ADDR`` set (the notebooks' runs read them, ``tspsis.engine.launch.resolve_nodes``).
    Raises ``tspsis.engine.launch.DeviceError`` before anything runs if the profile needs a GPU and none would be used."""
    from tspsis.lab.profiles import require_device
    from tspsis.core.signals import forwarding_signals

    require_device(profile, gpus)  # seconds, before any data is generated
    import papermill as pm

    run_dir = Path(out) if out else RUNS / f"{_dt.date.today().isoformat()}-{profile}"
    run_dir.mkdir(parents=True, exist_ok=True)
    notebooks = discover(only)
    chain_start = time.time()
    for index, notebook in enumerate(notebooks, 1):
        output_dir = run_dir / notebook.stem
        executed = run_dir / notebook.name
        prefix = f"[{index}/{len(notebooks)}] {notebook.name}"
        if not force and _complete(output_dir):
            print(f"{prefix}: already complete in {run_dir}, skipped (--force re-executes)", flush=True)
            continue
        output_dir.mkdir(exist_ok=True)
        print(f"{prefix}: running ... ({time.time() - chain_start:.0f} s since the start)", flush=True)
        start = time.time()
        parameters = notebook_parameters(profile, output_dir, gpus, seed, data_root, work_dir, train_seed, nodes)
        try:
            with _environ_updated(KERNEL_ENV), forwarding_signals():  # the kernel and its trainings stop first
                pm.execute_notebook(str(notebook), str(executed), cwd=str(output_dir), progress_bar=False,
                                    parameters=parameters)
        except pm.PapermillExecutionError as err:
            first_line = next((line for line in err.source.splitlines() if line.strip()), "")
            print(f"{prefix}: FAILED in cell {err.exec_count} ({first_line.strip()} ...) after "
                  f"{time.time() - start:.0f} s: {err.ename}: {err.evalue}\n"
                  f"  the executed copy with the partial output and the traceback is {executed}", flush=True)
            gather_results(run_dir)
            return 1
        print(f"{prefix}: done in {time.time() - start:.0f} s", flush=True)
    print(f"results: {gather_results(run_dir)} (all notebooks: {time.time() - chain_start:.0f} s)", flush=True)
    return 0
