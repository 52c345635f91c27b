"""Every name at home: a module-level name of tspsis/ (function, class or assigned constant, public or private) is
defined in one module only. Other modules import it from there; two different things that shared a name were
renamed so that each name says which it is.

Not counted: names bound by import (a home's users import it), ``__all__`` and the other dunders, ``logger`` (one
per module by logging's convention) and ``main`` in a module run as a program (``if __name__ == "__main__":``),
the entry point each program has by Python's convention."""
import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tspsis"
ONE_PER_MODULE = {"logger"}
ENTRY_POINT = "main"


def _bound_names(statements: list[ast.stmt]) -> Iterator[str]:
    """The names that module-level ``statements`` define (inside module-level if / try blocks too), not imports."""
    for node in statements:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                yield from (n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.If):
            yield from _bound_names(node.body)
            yield from _bound_names(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(handler.body for handler in node.handlers)):
                yield from _bound_names(block)


def _runs_as_program(tree: ast.Module) -> bool:
    """The module has an ``if __name__ == "__main__":`` block."""
    return any(isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
               and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"
               and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in node.test.comparators)
               for node in tree.body)


def module_level_definitions(package: Path = PACKAGE) -> dict[str, list[str]]:
    """{name: the modules (paths from the package's parent folder) that define it at module level}."""
    homes: dict[str, list[str]] = defaultdict(list)
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for name in sorted(set(_bound_names(tree.body))):
            if (name.startswith("__") and name.endswith("__")) or name in ONE_PER_MODULE:
                continue
            if name == ENTRY_POINT and _runs_as_program(tree):
                continue
            homes[name].append(path.relative_to(package.parent).as_posix())
    return homes


def test_every_module_level_name_is_defined_once():
    duplicates = {name: paths for name, paths in module_level_definitions().items() if len(paths) > 1}
    assert not duplicates, "defined in more than one module (one home, the others import it; or rename one): " + \
        "; ".join(f"{name}: {', '.join(paths)}" for name, paths in sorted(duplicates.items()))


def test_the_check_sees_definitions_and_skips_imports(tmp_path):
    package = tmp_path / "tspsis"
    package.mkdir()
    (package / "a.py").write_text("import os\nfrom b import helper\n__all__ = ['X']\nlogger = None\nX: int = 1\n"
                                  "def main():\n    pass\n")
    (package / "b.py").write_text("try:\n    _CACHE, X = {}, 2\nexcept ImportError:\n    pass\n"
                                  "class helper:\n    pass\ndef main():\n    pass\nif __name__ == '__main__':\n"
                                  "    main()\n")
    assert module_level_definitions(package) == {"X": ["tspsis/a.py", "tspsis/b.py"], "main": ["tspsis/a.py"],
                                                 "_CACHE": ["tspsis/b.py"], "helper": ["tspsis/b.py"]}
