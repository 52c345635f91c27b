"""The notebooks under notebooks/ are committed clean: no outputs, one `parameters` cell declaring what
`tspsis run-notebooks` passes, numbered in order, and thin (logic lives in the library)."""
import ast
import re
from pathlib import Path

import nbformat
import pytest

from tspsis.lab.notebooks import NOTEBOOKS, PARAMETERS, notebook_parameters

PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
MAX_LOGIC_LINES = 15  # "a cell over ~15 lines of logic belongs in the library" (issue 5)


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_notebooks_are_numbered_in_order():
    numbers = [p.name[:2] for p in PATHS]
    assert PATHS and all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name) for p in PATHS)
    assert numbers == [f"{i:02d}" for i in range(len(PATHS))]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_notebook_has_no_outputs(path):
    nb = _read(path)
    nbformat.validate(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_notebook_has_one_parameters_cell_declaring_the_required_names(path):
    nb = _read(path)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    assert tagged[0].cell_type == "code"
    assigned = {target.id for node in ast.parse(tagged[0].source).body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    assert assigned == set(PARAMETERS), f"{path.name}: parameters cell declares {sorted(assigned)}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_code_cells_are_thin(path):
    for index, cell in enumerate(_read(path).cells):
        if cell.cell_type != "code":
            continue
        ast.parse(cell.source)  # valid Python
        logic = [line for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
        assert len(logic) <= MAX_LOGIC_LINES, f"{path.name} cell {index}: {len(logic)} lines of logic"


def test_run_notebooks_passes_exactly_the_declared_parameters(tmp_path):
    params = notebook_parameters("tiny", tmp_path / "out", data_root=tmp_path / "data", work_dir=tmp_path / "wd")
    assert set(params) == set(PARAMETERS)
    assert params["data_root"] == str((tmp_path / "data").resolve())
    assert params["work_dir"] == str((tmp_path / "wd").resolve())
    default = notebook_parameters("demo", tmp_path)
    assert default["data_root"].endswith("data/synth/demo") and default["work_dir"].endswith("work_dirs/demo")


def test_gpus_and_nodes_defaults_are_the_same_everywhere():
    """gpus None (every visible GPU, the CPU when none) and nodes 1 in tspsis train / test / run-notebooks,
    run_notebooks, notebook_parameters and every notebook's parameters cell; train_seed defaults to None (the
    profile's seeds) in the CLI and the notebooks."""
    import inspect

    from tspsis.cli import build_parser
    from tspsis.lab.notebooks import run_notebooks

    parser = build_parser()
    for argv in (["train", "c.py", "--work-dir", "w"], ["test", "c.py", "k.pth", "--work-dir", "w"],
                 ["run-notebooks"]):
        assert parser.parse_args(argv).gpus is None and parser.parse_args(argv).nodes == 1, argv
    args = parser.parse_args(["run-notebooks", "--train-seed", "0,1,2", "--force"])
    assert args.train_seed == [0, 1, 2] and args.force and parser.parse_args(["run-notebooks"]).train_seed is None
    assert parser.parse_args(["train", "c.py", "--work-dir", "w", "--train-seed", "3"]).train_seed == 3
    assert inspect.signature(run_notebooks).parameters["gpus"].default is None
    assert inspect.signature(run_notebooks).parameters["train_seed"].default is None
    assert inspect.signature(run_notebooks).parameters["nodes"].default == 1
    assert notebook_parameters("tiny", Path("out"))["nodes"] == 1
    assert notebook_parameters("tiny", Path("out"), nodes=2)["nodes"] == 2
    for path in PATHS:
        (cell,) = [c for c in _read(path).cells if "parameters" in c.metadata.get("tags", [])]
        values = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(cell.source).body}
        assert values["gpus"] is None and values["nodes"] == 1 and values["train_seed"] is None, path.name
