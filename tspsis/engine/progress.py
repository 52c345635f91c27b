"""How a run's progress is shown: a tqdm bar per phase (train, then the test pass) in a terminal and in Jupyter with
ipywidgets, a few plain lines per phase anywhere else (papermill, pipes): no carriage returns in stored outputs.

``ChildOutput`` reads the runner process's output line by line (``tspsis.engine.launch`` feeds it): mmengine's
``Iter(train) [i/N]`` lines move the bars, the runner's and the hooks' ``tspsis: `` lines (``tspsis.core.console.say``)
are shown, and a user's mistake the runner reported (``tspsis.core.errors.USER_ERROR_PREFIX``) is kept for the launcher to raise.
"""
from __future__ import annotations

import os
import re
import sys
import time

from tspsis.core.console import SAY_PREFIX

PROGRESS_ENV = "TSPSIS_PROGRESS"  # "bar" or "lines": overrides progress_style() (run-notebooks sets "lines")
_PROGRESS = re.compile(r"(?:Iter|Epoch)\((train|test)\)\s*(?:\[\s*\d+\])?\s*\[\s*(\d+)/(\d+)\]")
_LOSS = re.compile(r"\bloss: ([\d.e+-]+)")


def progress_style() -> str:
    """How ``train``/``test`` show progress: ``"bar"`` (tqdm.auto: a bar in a terminal, a widget in Jupyter
    with ipywidgets) or ``"lines"`` (a line when a phase ends; in a long phase also at a tenth of it done, at
    most one a minute).

    ``$TSPSIS_PROGRESS`` decides if set; otherwise bars in a terminal and in a Jupyter kernel that has
    ipywidgets, lines anywhere else (a text bar in a notebook or a log file is a stream of carriage returns).
    """
    chosen = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if chosen in ("bar", "lines"):
        return chosen
    if "ipykernel" in sys.modules:
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return "lines"
        return "bar"
    return "bar" if sys.stderr.isatty() else "lines"


class _Progress:
    """One phase (train or test) of a run: a tqdm bar or plain lines (``progress_style``)."""

    LINE_EVERY_S = 60.0  # "lines": at most one line a minute before the phase ends

    def __init__(self, desc: str, style: str, done: int) -> None:
        self.desc, self.style, self.start = desc, style, time.time()
        self.total, self.done, self.loss, self.printed_tenth, self.printed_at = None, done, None, 0, self.start
        self.bar = None
        if style == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(desc=desc, unit="it", dynamic_ncols=True, initial=done)

    def update(self, done: int, total: int, loss: float | None) -> None:
        self.done, self.total = done, total
        self.loss = loss if loss is not None else self.loss
        if self.bar is not None:
            self.bar.total, self.bar.n = total, done
            if loss is not None:
                self.bar.set_postfix(loss=loss, refresh=False)
            self.bar.refresh()
        elif (tenth := 10 * done // max(total, 1)) > self.printed_tenth and done < total \
                and time.time() - self.printed_at >= self.LINE_EVERY_S:
            self.printed_tenth = tenth
            self._line()

    def _line(self) -> None:
        self.printed_at = time.time()
        loss = "" if self.loss is None else f", loss {self.loss:.4g}"
        print(f"{self.desc}: {self.done}/{self.total}{loss} ({time.time() - self.start:.0f} s)", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.total is not None:
            self._line()


class ChildOutput:
    """The runner process's output, one line at a time (``feed``): one progress bar per phase (a training run ends
    with its test pass), the runner's ``tspsis: `` lines printed as ``<mode> <name>: ...``, and the one-line user
    error it reported, if any (``user_error``)."""

    def __init__(self, mode: str, name: str) -> None:
        self.mode, self.name, self.style = mode, name, progress_style()
        self.bar: _Progress | None = None
        self.phase: str | None = None
        self.user_error: str | None = None

    def feed(self, line: str) -> None:
        from tspsis.core.errors import USER_ERROR_PREFIX

        if line.startswith(USER_ERROR_PREFIX):
            self.user_error = line[len(USER_ERROR_PREFIX):].strip()
        elif line.startswith(SAY_PREFIX):
            print(f"{self.mode} {self.name}: {line[len(SAY_PREFIX):].rstrip()}", flush=True)
        match = _PROGRESS.search(line)
        if match:
            done, total = int(match.group(2)), int(match.group(3))
            if match.group(1) != self.phase:  # a new bar: its rate and ETA must not count the previous phase
                self.close()
                self.phase = match.group(1)  # the log reports every few iterations: start the bar at the first
                self.bar = _Progress(f"{self.phase} {self.name}", self.style, done)
            loss = _LOSS.search(line)
            self.bar.update(done, total, float(loss.group(1)) if loss else None)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
