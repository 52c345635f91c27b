"""Lines for the user from a training process: the launcher (``tspsis.engine.progress.ChildOutput``) shows the child's
lines that start with ``SAY_PREFIX`` on the console, everything else goes to the run's ``launcher.log`` only. Here, below
every layer that trains, so that the runner (engine) and the plugin's hooks say things the same way."""
from __future__ import annotations

import os

__all__ = ["SAY_PREFIX", "say"]

SAY_PREFIX = "tspsis: "  # a training process's lines for the user, shown on the console


def say(message: str) -> None:
    """A line for the user, from rank 0 only (``$RANK``, set by torchrun and slurm): ``SAY_PREFIX`` + message."""
    if os.environ.get("RANK", "0") == "0":
        print(f"{SAY_PREFIX}{message}", flush=True)
