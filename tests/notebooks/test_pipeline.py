"""`tspsis run-notebooks` end to end: the whole chain on the tiny profile (runs shared through the experiment
cache), and a failing notebook that stops the chain and keeps its partial output."""
import json
import math
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tspsis.lab import notebooks
from tspsis.eval import AP_NAMES

pytestmark = pytest.mark.slow
ALL = notebooks.discover()


STAT_KEYS = {"mean", "std", "n", "values", "seeds"}  # reporting.Stat in metrics.json


def _numbers(node, key=None):
    """(key, value) of every number in a JSON tree (key: the innermost dict key; a Stat's mean, std and values
    count under the key of the Stat itself)."""
    if isinstance(node, dict) and set(node) == STAT_KEYS:
        yield from _numbers([node["mean"], *node["values"]], key)
        if node["std"] is not None:
            yield "std", node["std"]
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _numbers(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _numbers(v, key)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield key, node


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    code = notebooks.run_notebooks("tiny", out=root / "run", data_root=root / "data", work_dir=root / "work")
    return code, root


def test_tiny_chain_runs_every_notebook(chain):
    code, root = chain
    assert code == 0
    run_dir = root / "run"
    results = (run_dir / "results.md").read_text()
    for notebook in ALL:
        assert (run_dir / notebook.name).is_file()
        metrics = json.loads((run_dir / notebook.stem / "metrics.json").read_text())
        assert metrics["complete"] is True and metrics["profile"] == "tiny"
        for figure in metrics["figures"]:
            assert (run_dir / notebook.stem / figure).read_bytes()[:4] == b"\x89PNG"
        values = list(_numbers(metrics))
        assert values, notebook.name
        for key, value in values:
            assert math.isfinite(value), (notebook.name, key)
            if key in AP_NAMES:
                assert 0 <= value <= 100, (notebook.name, key, value)
        assert f"## {notebook.stem}" in results
    assert results.count("paper: AP") >= 3  # Tables 1 (two directions) and 2 show the paper's columns


def test_tables_hold_measured_numbers_for_every_run_row(chain):
    _, root = chain
    table1 = json.loads((root / "run" / "03_main_results" / "metrics.json").read_text())["table1"]
    for direction in ("voc2nonvoc", "nonvoc2voc"):
        for method in ("Mask R-CNN", "Mask R-CNN + ours", "Oracle"):
            assert 0 <= table1[direction][method]["AP"]["mean"] <= 100 and table1[direction][method]["AP"]["n"] == 1
    runs = [json.loads((root / "run" / nb.stem / "metrics.json").read_text()).get("runs", {}) for nb in ALL]
    name = "Mask R-CNN | voc2nonvoc | seed 0"
    shared = runs[1][name]["work_dir"]  # 01 trained it, 03 and 04 reused it
    assert runs[3][name]["work_dir"] == shared == runs[4][name]["work_dir"] and runs[1][name]["seed"] == 0
    table5 = json.loads((root / "run" / "06_ablations" / "metrics.json").read_text())["table5_train_seconds"]
    assert all(seconds > 0 for seconds in table5.values())


def test_rerun_skips_complete_notebooks(chain, capsys):
    _, root = chain
    code = notebooks.run_notebooks("tiny", only=["03"], out=root / "run", data_root=root / "data",
                                   work_dir=root / "work")
    assert code == 0 and "already complete" in capsys.readouterr().out


def _write(path: Path, sources: list[str]) -> None:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_failing_notebook_stops_the_chain_and_keeps_partial_output(tmp_path, monkeypatch, capsys):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    params = "\n".join(f"{name} = None" for name in notebooks.PARAMETERS)
    _write(nb_dir / "00_ok.ipynb", [params, "import json, pathlib\npathlib.Path(output_dir, 'metrics.json')"
                                             ".write_text(json.dumps({'complete': True}))"])
    _write(nb_dir / "01_fails.ipynb", [params, "print('partial output')", "raise ValueError('broken on purpose')"])
    _write(nb_dir / "02_never.ipynb", [params, "raise AssertionError('must not run')"])
    monkeypatch.setattr(notebooks, "NOTEBOOKS", nb_dir)

    code = notebooks.run_notebooks("tiny", out=tmp_path / "run", data_root=tmp_path / "d", work_dir=tmp_path / "w")
    printed = capsys.readouterr().out
    assert code == 1
    assert "01_fails.ipynb: FAILED in cell" in printed and "raise ValueError" in printed and "broken on purpose" in printed
    assert not (tmp_path / "run" / "02_never.ipynb").exists()
    executed = nbformat.read(tmp_path / "run" / "01_fails.ipynb", as_version=4)
    texts = [o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert any("partial output" in t for t in texts)

    code = notebooks.run_notebooks("tiny", only=["00"], out=tmp_path / "run", data_root=tmp_path / "d",
                                   work_dir=tmp_path / "w")
    assert code == 0 and "00_ok.ipynb: already complete" in capsys.readouterr().out


def test_force_re_executes_complete_notebooks_in_a_quiet_kernel(tmp_path, monkeypatch, capsys):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    params = "\n".join(f"{name} = None" for name in notebooks.PARAMETERS)
    body = ("import json, os, pathlib, warnings\n"
            "from tspsis.lab.notebooks import prepare_kernel\n"
            "prepare_kernel()\n"
            "warnings.warn('pkg_resources is deprecated as an API. See ...', UserWarning)\n"
            "print('env', os.environ.get('TSPSIS_PROGRESS'), os.environ.get('TQDM_DISABLE'), 'seed', train_seed)\n"
            "with open(pathlib.Path(output_dir, 'executions'), 'a') as f: f.write('x')\n"
            "pathlib.Path(output_dir, 'metrics.json').write_text(json.dumps({'complete': True}))")
    _write(nb_dir / "00_ok.ipynb", [params, body])
    monkeypatch.setattr(notebooks, "NOTEBOOKS", nb_dir)
    monkeypatch.delenv("TSPSIS_PROGRESS", raising=False)
    kwargs = dict(out=tmp_path / "run", data_root=tmp_path / "d", work_dir=tmp_path / "w", train_seed=[0, 1])

    assert notebooks.run_notebooks("tiny", **kwargs) == 0
    assert notebooks.run_notebooks("tiny", **kwargs) == 0  # complete: skipped
    assert "already complete" in capsys.readouterr().out
    assert (tmp_path / "run" / "00_ok" / "executions").read_text() == "x"
    assert notebooks.run_notebooks("tiny", force=True, **kwargs) == 0
    printed = capsys.readouterr().out
    assert (tmp_path / "run" / "00_ok" / "executions").read_text() == "xx" and "already complete" not in printed
    assert re.search(r"\[1/1\] 00_ok.ipynb: done in \d+ s", printed)  # a line per notebook, with seconds
    assert "TSPSIS_PROGRESS" not in os.environ  # the kernel's environment did not leak into this process

    executed = nbformat.read(tmp_path / "run" / "00_ok.ipynb", as_version=4)
    streams = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"]
    assert [o.text for o in streams] == ["env lines 1 seed [0, 1]\n"]  # no warning, no progress bar


# run-notebooks in a process of its own (SIGTERM goes to it), its notebooks from NB_DIR (argv[1])
RUN_NOTEBOOKS = """
import sys
from pathlib import Path
from tspsis.cli import commands as cli
from tspsis.lab import notebooks

notebooks.NOTEBOOKS = Path(sys.argv[1])
sys.exit(cli.main(["run-notebooks", "--profile", "tiny", *sys.argv[2:]]))
"""


def test_sigterm_to_run_notebooks_stops_the_kernel_and_its_trainings_first(tmp_path):
    """A notebook whose 'training' runs in a session of its own, as tspsis.engine.launch starts them: SIGTERM to
    run-notebooks must not leave it running (it did, for ~25 s, with PPID 1: issue 18)."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    nb_dir, pid_file = tmp_path / "notebooks", tmp_path / "training.pid"
    nb_dir.mkdir()
    params = "\n".join(f"{name} = None" for name in notebooks.PARAMETERS)
    _write(nb_dir / "00_trains.ipynb", [params, (
        "import subprocess, sys, time\n"
        "training = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(training.pid))\n"
        "time.sleep(600)")])
    command = subprocess.Popen(
        [sys.executable, "-c", RUN_NOTEBOOKS, str(nb_dir), "--out-dir", str(tmp_path / "run"), "--data-root",
         str(tmp_path / "d"), "--work-dir", str(tmp_path / "w")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (pid_file.is_file() and pid_file.read_text()) and time.time() < deadline:
            time.sleep(0.2)
        training = psutil.Process(int(pid_file.read_text()))
        kernel = training.parent()
        command.send_signal(signal.SIGTERM)
        _, err = command.communicate(timeout=120)
    finally:
        if command.poll() is None:
            command.kill()
    assert command.returncode == 128 + signal.SIGTERM
    assert err.splitlines()[-1] == ("tspsis run-notebooks: stopped by SIGTERM; the same command goes on: finished "
                                    "notebooks are skipped, trainings resume from their checkpoints")
    for process in (kernel, training):
        assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE


def test_the_detector_track_scores_detections_from_a_shared_detector(tmp_path):
    """tiny-detector: the shared pre-trained detector's box AP in notebook 03 beside Table 1 from detections (every
    row voc -> non-voc, BoxInst with its own CPU sizing included), and claim 5 checked under both schedules of the
    pseudo labels."""
    code = notebooks.run_notebooks("tiny-detector", only=["03", "09"], out=tmp_path / "run", data_root=tmp_path / "d",
                                   work_dir=tmp_path / "w")
    assert code == 0
    table1 = json.loads((tmp_path / "run" / "03_main_results" / "metrics.json").read_text())
    assert {"all", "seen", "unseen"} <= set(table1["shared_detector"])
    assert 0 <= table1["shared_detector"]["unseen"]["AP"] <= 100
    for direction in ("voc2nonvoc", "nonvoc2voc"):
        for method in ("Mask R-CNN", "Mask R-CNN + ours", "Oracle"):
            assert 0 <= table1["table1"][direction][method]["AP"]["mean"] <= 100
    for method in ("MaskX R-CNN", "Mask GrabCut", "CPMask", "OPMask", "OPMask + ours", "BoxInst", "BoxInst + ours"):
        assert 0 <= table1["table1"]["voc2nonvoc"][method]["AP"]["mean"] <= 100, method
        assert method in table1["not_run"]["nonvoc2voc"]  # one direction (time budget), said so
    claims = json.loads((tmp_path / "run" / "09_claims" / "metrics.json").read_text())["claims"]
    assert [row[0] for row in claims if row[0].startswith("5.")] == [
        "5. CRF ≈ threshold ≈ interact (Table 5), with the pseudo-label warm-up",
        "5. CRF ≈ threshold ≈ interact (Table 5), the paper's schedule (no warm-up)"]
