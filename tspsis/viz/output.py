"""``NotebookOutput``: what one notebook leaves in its ``output_dir`` (``tables.md``, figures, ``metrics.json``)."""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tspsis.core.io import NOTEBOOK_COMPLETE_KEY, write_bytes_atomic, write_json_atomic
from tspsis.core.stats import Stat
from tspsis.viz.plots import save_figure


class NotebookOutput:
    """What one notebook leaves in ``output_dir``: ``tables.md``, ``<name>.png`` figures and ``metrics.json``.

    ``tables.md`` is rewritten after every table, so a notebook that fails halfway still shows what it got;
    ``finish`` writes ``metrics.json`` with ``"complete": true``, the marker ``tspsis run-notebooks`` resumes by.
    The title and ``note`` (what the numbers are: the profile's note) are shown once, when the output is
    created, and head ``tables.md``; tables made with ``comparison_table(note=None)`` refer to it.
    """

    def __init__(self, output_dir: str | os.PathLike, title: str, note: str = "") -> None:
        self.dir = Path(output_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.title, self.note = title, note
        self.sections: list[str] = []
        self.figures: list[str] = []
        _display_markdown(self._header())

    def _header(self) -> str:
        return "\n".join([f"### {self.title}\n"] + ([f"_{self.note}_\n"] if self.note else []))

    def _write_tables(self) -> None:
        write_bytes_atomic(self.dir / "tables.md", "\n".join([self._header(), *self.sections]).encode("utf-8"))

    def table(self, markdown: str) -> None:
        """Add a markdown table (or any markdown) to ``tables.md`` and show it in the notebook (once: nothing is
        returned, so a cell ending in ``out.table(...)`` does not print it a second time as text)."""
        self.sections.append(markdown.rstrip() + "\n")
        self._write_tables()
        _display_markdown(markdown)

    def figure(self, fig, name: str, caption: str = "") -> Path:
        """Save ``fig`` as ``name.png`` and link it from ``tables.md`` (with ``caption``)."""
        path = save_figure(fig, self.dir, name)
        self.figures.append(path.name)
        self.sections.append(f"![{caption or name}]({path.name})" + (f"  \n{caption}\n" if caption else "\n"))
        self._write_tables()
        return path

    def finish(self, metrics: Mapping[str, Any]) -> Path:
        """Write ``metrics.json`` = ``metrics`` + figures + ``"complete": true`` (strict JSON, atomically)."""
        path = self.dir / "metrics.json"
        write_json_atomic(path, {**_finite(metrics), "figures": self.figures, NOTEBOOK_COMPLETE_KEY: True}, indent=1)
        return path


def _finite(node: Any) -> Any:
    """NaN / inf -> None, so metrics.json is strict JSON; a ``Stat`` -> ``Stat.to_json()``."""
    if isinstance(node, Stat):
        return _finite(node.to_json())
    if isinstance(node, float) and not math.isfinite(node):
        return None
    if isinstance(node, Mapping):
        return {str(k): _finite(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_finite(v) for v in node]
    return node


def _display_markdown(markdown: str) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        print(markdown)
        return
    if get_ipython() is None:
        print(markdown)
    else:
        display(Markdown(markdown))
