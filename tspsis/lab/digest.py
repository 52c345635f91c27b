"""The digest of the code a training process runs (part of every run's key, ``tspsis.lab.runs``): every tspsis module
that ``python -m tspsis.engine.runner`` can import, found by following the imports of tspsis.engine.runner and
tspsis.plugin: the heads, losses, pseudo masks, CAMs, data loading, the metric and the evaluation (core, eval,
plugin, engine); not the notebooks, tables or figures (lab, viz, cli)."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PACKAGE", "code_digest"]

PACKAGE = Path(__file__).resolve().parents[1]  # tspsis/ (code_digest reads it; tests point it at a copy)


def code_digest(roots: Iterable[str] = ("engine.runner", "plugin")) -> str:
    """sha256 of the source of every tspsis module a training process can import (part of the run key).

    Starts from ``tspsis/<root>.py`` or ``tspsis/<root>/__init__.py`` (``python -m tspsis.engine.runner`` imports
    tspsis, tspsis.engine.runner and, through the configs' ``custom_imports``, tspsis.plugin) and follows every
    ``import``/``from ... import`` of a tspsis module found in their syntax trees, lazy imports inside
    functions included. Files are hashed by path relative to the package, in order."""
    files = _import_closure([f"tspsis.{root}" for root in roots])
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(PACKAGE.parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _module_file(module: str) -> Path | None:
    """``tspsis.<a>.<b>`` -> PACKAGE/<a>/<b>.py or PACKAGE/<a>/<b>/__init__.py (None if neither exists)."""
    parts = module.split(".")[1:]
    base = PACKAGE.joinpath(*parts)
    for candidate in (base.with_suffix(".py") if parts else None, base / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _import_closure(modules: list[str]) -> list[Path]:
    """The files of ``modules`` (dotted tspsis names), their parent packages and every tspsis module they
    import, transitively; sorted."""
    import ast

    seen: dict[str, Path] = {}
    todo = ["tspsis", *modules]
    while todo:
        module = todo.pop()
        if module in seen or (path := _module_file(module)) is None:
            continue
        seen[module] = path
        todo += [".".join(module.split(".")[:k]) for k in range(1, module.count(".") + 1)]  # parent packages
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names if alias.name.split(".")[0] == "tspsis"]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                    target = f"{base}.{node.module}" if node.module else base
                elif node.module and node.module.split(".")[0] == "tspsis":
                    target = node.module
                else:
                    continue
                todo += [target, *(f"{target}.{alias.name}" for alias in node.names)]  # names may be modules
    return sorted(set(seen.values()))
