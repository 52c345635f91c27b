"""Every dotted name ``tspsis.x.y...`` that the prose of the repository gives resolves to what exists now.

The prose: the docstrings and comments of tspsis/**/*.py, README.md, docs/**/*.md, configs/**/*.md and the
markdown cells of notebooks/*.ipynb. A name resolves when its longest importable module prefix imports and the rest
are attributes of it (``tspsis.lab.runs.resolve``, ``tspsis.plugin.roi_heads.partial_roi_head.PartialRoIHead.loss``);
the deprecated alias ``tspsis.models`` resolves too (it still works, for one release)."""
import ast
import importlib
import io
import json
import re
import tokenize
import warnings
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOTTED_NAME = re.compile(r"(?<![\w.])tspsis(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
ALIAS = "tspsis.models"  # deprecated alias of tspsis.plugin, documented (docs/DESIGN.md, "Layers")


def _python_prose(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every docstring and comment of a Python file."""
    source = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                yield body[0].lineno, body[0].value.value
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string


def _markdown_cells(path: Path) -> Iterator[tuple[int, str]]:
    """(cell number, text) of every markdown cell of a notebook."""
    for number, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        if cell["cell_type"] == "markdown":
            yield number, "".join(cell["source"])


def _prose() -> Iterator[tuple[str, int, str]]:
    """(file relative to the repository, line or cell, text) of all the prose the names are checked in."""
    for path in sorted((REPO / "tspsis").rglob("*.py")):
        yield from ((path.relative_to(REPO).as_posix(), line, text) for line, text in _python_prose(path))
    markdown = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted((REPO / "configs").rglob("*.md"))]
    for path in markdown:
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            yield path.relative_to(REPO).as_posix(), line, text
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        yield from ((path.relative_to(REPO).as_posix(), cell, text) for cell, text in _markdown_cells(path))


def dotted_names() -> dict[str, list[str]]:
    """{dotted tspsis name: the places ``file:line`` (notebooks: ``file:cell N``) that give it}."""
    places: dict[str, list[str]] = {}
    for file, where, text in _prose():
        for offset, line in enumerate(text.splitlines()):
            for name in DOTTED_NAME.findall(line):
                place = f"{file}:cell {where}" if file.endswith(".ipynb") else f"{file}:{where + offset}"
                places.setdefault(name, []).append(place)
    return places


@lru_cache(maxsize=None)
def resolves(name: str) -> bool:
    """The longest importable module prefix of ``name`` imports, and the rest are attributes of it."""
    if name == ALIAS:
        return True
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        module_name = ".".join(parts[:end])
        if module_name == ALIAS or module_name.startswith(ALIAS + "."):
            return False  # only the alias itself: everything in it has a home in tspsis.plugin
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obj = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is not None and not module_name.startswith(err.name):
                raise  # a module that exists failed to import one it needs: not a naming problem
            continue
        for attribute in parts[end:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def test_the_prose_holds_dotted_names():
    names = dotted_names()
    assert {"tspsis.engine.runner", "tspsis.core.splits"} <= set(names)  # the scan finds code and docs


def test_every_dotted_name_in_the_prose_resolves():
    unresolved = {name: places for name, places in dotted_names().items() if not resolves(name)}
    assert not unresolved, "names that do not resolve (write the current module / attribute):\n" + "\n".join(
        f"  {name}  ({', '.join(places)})" for name, places in sorted(unresolved.items()))


@pytest.mark.parametrize("name, expected", [
    ("tspsis.core.pseudo.make_pseudo_masks", True),      # a function of a module
    ("tspsis.core.stats.Stat.to_json", True),            # an attribute of a class
    ("tspsis.models", True),                             # the documented alias
    ("tspsis.models.roi_heads", False),                  # what lives behind the alias has its own home
    ("tspsis.core.no_such_module", False),
    ("tspsis.core.pseudo.no_such_function", False),
])
def test_resolution(name, expected):
    assert resolves(name) is expected
