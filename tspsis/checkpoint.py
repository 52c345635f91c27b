"""Safe loading of mmengine checkpoints under torch's ``weights_only`` default.

torch >= 2.6 unpickles with ``weights_only=True``; mmengine 0.10.7 calls ``torch.load`` without the argument, so
its checkpoints — which carry the message hub's ``HistoryBuffer`` objects and numpy arrays — fail to resume.
Rather than turning weights-only loading off, we allowlist exactly the globals an mmengine checkpoint contains
(:data:`MMENGINE_CHECKPOINT_GLOBALS`, found with ``torch.serialization.get_unsafe_globals_in_checkpoint`` on a
real training run). Anything else in a checkpoint is refused.

``HistoryBuffer`` pickles its class-level table of statistics methods as ``getattr(HistoryBuffer, 'mean')``, so
``builtins.getattr`` is needed; instead of the real ``getattr`` (which would reach any attribute of any allowed
object) we register :func:`_history_buffer_method`, which resolves only those statistics methods.
"""
from __future__ import annotations

import os
import pickle
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["UnsafeCheckpointError", "register_safe_globals", "load_checkpoint_file", "install_mmengine_loader"]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a global outside the allowlist; it was not loaded."""


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """Stand-in for ``builtins.getattr`` during unpickling: only ``HistoryBuffer``'s statistics methods."""
    from mmengine.logging.history_buffer import HistoryBuffer

    attr = vars(HistoryBuffer).get(name) if owner is HistoryBuffer else None
    if name.startswith("_") or not callable(attr):
        raise UnsafeCheckpointError(
            f"checkpoint asks for getattr({owner!r}, {name!r}); only HistoryBuffer statistics methods are allowed")
    return attr


def _numpy_globals() -> list:
    core = np._core if hasattr(np, "_core") else np.core
    found = [np.ndarray, np.dtype, core.multiarray._reconstruct, core.multiarray.scalar]
    # numpy 2 pickles concrete dtypes as numpy.dtypes.Float64DType etc.
    found += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return found


def _allowlist() -> list:
    from mmengine.logging.history_buffer import HistoryBuffer

    return _numpy_globals() + [HistoryBuffer, (_history_buffer_method, "builtins.getattr")]


MMENGINE_CHECKPOINT_GLOBALS: tuple[str, ...] = (
    "numpy.ndarray", "numpy.dtype", "numpy._core.multiarray._reconstruct", "numpy._core.multiarray.scalar",
    "numpy.dtypes.*DType", "mmengine.logging.history_buffer.HistoryBuffer",
    "builtins.getattr (restricted to HistoryBuffer statistics methods)",
)


def register_safe_globals() -> bool:
    """Add the mmengine checkpoint globals to torch's weights-only allowlist. Returns False without mmengine."""
    try:
        torch.serialization.add_safe_globals(_allowlist())
    except ImportError:
        return False
    return True


def load_checkpoint_file(filename: str, map_location: Any = None) -> dict:
    """``torch.load`` with ``weights_only=True`` and the allowlist; a clear error names the file and the global."""
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"{filename} can not be found.")
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's message wraps the one informative line (the refused global) in generic advice
        lines = [ln.strip() for ln in str(err).splitlines()]
        detail = next((ln for ln in lines if "GLOBAL" in ln or "getattr" in ln), lines[-1])
        detail = detail.removeprefix("WeightsUnpickler error:").strip()
        raise UnsafeCheckpointError(
            f"{filename}: refused to load (weights-only unpickling): {detail} "
            "tspsis allows only what mmengine checkpoints contain (tspsis.checkpoint.MMENGINE_CHECKPOINT_GLOBALS). "
            "If you trust this file, allow the class with torch.serialization.add_safe_globals([...]).") from None


def install_mmengine_loader() -> None:
    """Make mmengine's local checkpoint loader (resume, ``load_from``) use :func:`load_checkpoint_file`."""
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes="", loader=load_checkpoint_file, force=True)
