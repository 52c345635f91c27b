"""The shape of the package (docs/DESIGN.md, "Layers"): imports run one way (import-linter's contracts in
pyproject.toml: cli > lab > viz > apis > engine > plugin > eval > core), no import cycle inside tspsis (function-level
imports included), no module over 500 lines, figures that draw without reaching into other modules' privates, and the
deprecated ``tspsis.models`` still registers the plugin."""
import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from importlinter import cli as importlinter_cli

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "tspsis"
MAX_LINES = 500


def test_import_linter_contracts_are_kept(monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.syspath_prepend(str(REPO))
    assert importlinter_cli.lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True,
                                         no_logo=True) == 0, "lint-imports: a contract is broken (see the output)"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_inside_tspsis(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    graph = grimp.build_graph("tspsis", cache_dir=None)
    assert _cycles(graph) == []


def test_viz_draws_with_public_names_and_no_command_line_code():
    """viz draws what ``tspsis.apis`` and the lab give it: it imports no private name (``_x``) of another module
    and nothing of ``tspsis.cli`` (module-level and function-level imports alike)."""
    imported = []  # (file, module, name): `from module import name`; `import module` as (file, module, "")
    for path in sorted((PACKAGE / "viz").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tspsis"):
                imported += [(path.name, node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                imported += [(path.name, alias.name, "") for alias in node.names if alias.name.startswith("tspsis")]
    found = [f"{file}: {module} {name}" for file, module, name in imported
             if name.startswith("_") or module == "tspsis.cli" or module.startswith("tspsis.cli.")]
    assert not found, "viz imports what it should not:\n" + "\n".join(found)


def test_no_module_is_over_500_lines():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these by concern (at most {MAX_LINES} lines): {long}"


@pytest.mark.parametrize("module", ["tspsis.models"])
def test_the_old_plugin_path_still_registers_everything_and_warns(module):
    code = ("import warnings\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            f"    import {module}\n"
            "from mmdet.registry import MODELS\n"
            "assert MODELS.get('TeacherStudentRoIHead') is not None and MODELS.get('PartialBoxInstDataPreprocessor')\n"
            "assert any(w.category is DeprecationWarning and 'tspsis.plugin' in str(w.message) for w in caught)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
