"""SIGINT and SIGTERM reach the processes a command started, and the command waits for them before it stops.

``tspsis train`` runs the training in a child (``tspsis.engine.launch``), ``run-notebooks`` runs a notebook kernel that
runs trainings; each child gets a session (process group) of its own, so that a terminal's Ctrl-C reaches only
the command, and a signal to the command alone would leave its children running (orphans, for the kernel's
trainings). Inside :func:`forwarding_signals` the command sends the signal on to the process group of every
descendant, waits until they have exited, and only then lets the signal act on itself as it would have
(``KeyboardInterrupt``, the handler in place before, or the default action).
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

__all__ = ["GRACE_S", "Stopped", "forwarding_signals", "stop_descendants"]

GRACE_S = 30.0  # how long descendants get to exit after the signal before they are killed
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """The command was stopped by ``signum`` (the CLI's SIGTERM handler raises it; SIGINT is KeyboardInterrupt)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def stop_descendants(signum: int, grace_s: float = GRACE_S) -> None:
    """Send ``signum`` to the process group of every descendant of this process (each process, where it shares
    this process's group), wait ``grace_s`` for all of them to exit, then SIGKILL what is left."""
    import psutil

    descendants = psutil.Process().children(recursive=True)
    own_group = os.getpgrp()
    groups = set()
    for process in descendants:
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            group = os.getpgid(process.pid)
            if group == own_group:
                process.send_signal(signum)
            elif group not in groups:
                groups.add(group)
                os.killpg(group, signum)
    _, alive = psutil.wait_procs(descendants, timeout=grace_s)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=grace_s)


@contextlib.contextmanager
def forwarding_signals(grace_s: float = GRACE_S) -> Iterator[None]:
    """Within the block, SIGINT / SIGTERM stop the descendants first (``stop_descendants``), then act on this process
    as before the block. Only the main thread can handle signals: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) or signal.SIG_DFL for signum in SIGNALS}  # None: set in C

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def handler(signum, frame) -> None:
        for other in SIGNALS:  # a second Ctrl-C while waiting must not interrupt the wait
            signal.signal(other, signal.SIG_IGN)
        stop_descendants(signum, grace_s)
        restore()
        signal.raise_signal(signum)  # now the signal's own effect on this process

    for signum in SIGNALS:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        restore()
