"""Errors the user causes and fixes with other input (a missing file, a typo in a key, a corrupt checkpoint): every
command prints them as one line and exits with status 2, no traceback; ``--debug`` or ``TSPSIS_DEBUG=1`` shows the
traceback instead. The training process (``tspsis.engine.runner``) prints its one line with ``USER_ERROR_PREFIX``, which
the launcher (``tspsis.engine.launch``) turns back into a ``UserError`` in the command that started it."""
from __future__ import annotations

import os
import sys

__all__ = ["DEBUG_ENV", "USER_ERROR_PREFIX", "UserError", "debugging", "is_user_error"]

DEBUG_ENV = "TSPSIS_DEBUG"
USER_ERROR_PREFIX = "tspsis: error: "


class UserError(ValueError):
    """Bad input, told in one line (the message names the file, key or field)."""


def debugging() -> bool:
    """``TSPSIS_DEBUG`` is set (and not 0): tracebacks instead of one-line errors."""
    return os.environ.get(DEBUG_ENV, "0") not in ("", "0")


def is_user_error(err: BaseException) -> bool:
    """Missing or unreadable files, bad values (config keys, data roots, corrupt checkpoints are ``ValueError``s),
    checkpoints refused as unsafe, and a device the machine lacks (``tspsis.engine.launch.DeviceError``, looked up only if
    launch was imported, to keep start-up light)."""
    from tspsis.core.checkpoint import UnsafeCheckpointError

    launch = sys.modules.get("tspsis.engine.launch")
    return (isinstance(err, (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, ValueError,
                             UnsafeCheckpointError))
            or (launch is not None and isinstance(err, launch.DeviceError)))
