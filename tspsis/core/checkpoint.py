"""Safe loading of mmengine checkpoints under torch's ``weights_only`` default.

torch >= 2.6 unpickles with ``weights_only=True``; mmengine 0.10.7 calls ``torch.load`` without the argument, so
its checkpoints — which carry the message hub's ``HistoryBuffer`` objects and numpy arrays — fail to resume.
Rather than turning weights-only loading off, we allowlist exactly the globals an mmengine checkpoint contains
(:data:`MMENGINE_CHECKPOINT_GLOBALS`, found with ``torch.serialization.get_unsafe_globals_in_checkpoint`` on a
real training run). Anything else in a checkpoint is refused.

``HistoryBuffer`` pickles its class-level table of statistics methods as ``getattr(HistoryBuffer, 'mean')``, so
``builtins.getattr`` is needed; instead of the real ``getattr`` (which would reach any attribute of any allowed
object) we register :func:`_history_buffer_method`, which resolves only those statistics methods.

A file that is not a checkpoint at all (garbage, or one cut short by a kill or a full disk) is a
:class:`CorruptCheckpointError` ("corrupt or truncated"), told apart from a refused global
(:class:`UnsafeCheckpointError`, which names the global): the advice of the one cannot help with the other.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["CorruptCheckpointError", "UnsafeCheckpointError", "check_checkpoint_file", "register_safe_globals",
           "load_checkpoint_file", "install_mmengine_loader"]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a global outside the allowlist; it was not loaded."""


class CorruptCheckpointError(ValueError):
    """A file that cannot be read as a checkpoint: not torch's format, or cut short."""

    def __init__(self, filename: str | os.PathLike, detail: str = "") -> None:
        super().__init__(f"{filename}: corrupt or truncated checkpoint" + (f" ({detail})" if detail else ""))


def _is_legacy_torch_file(filename: str) -> bool:
    """torch's format before 1.6: a pickle (protocol 2+) rather than a zip archive."""
    with open(filename, "rb") as f:
        return f.read(1) == b"\x80"


def check_checkpoint_file(filename: str | os.PathLike) -> None:
    """Raise unless ``filename`` is a complete checkpoint file: it exists and, in torch's zip format, every
    record is there with its checksum right (no unpickling, so no code of the file runs)."""
    filename = os.path.expanduser(str(filename))
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"checkpoint not found: {filename}")
    if not zipfile.is_zipfile(filename):
        if _is_legacy_torch_file(filename):
            return
        raise CorruptCheckpointError(filename, "not a zip archive")
    try:
        with zipfile.ZipFile(filename) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise CorruptCheckpointError(filename, str(err)) from None
    if bad is not None:
        raise CorruptCheckpointError(filename, f"bad checksum in {bad}")


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
    if not zipfile.is_zipfile(filename) and not _is_legacy_torch_file(filename):
        raise CorruptCheckpointError(filename, "not a zip archive")  # torch would call it unsafe
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError) as err:
        if isinstance(err, RuntimeError) and "PytorchStreamReader" not in str(err):
            raise  # not the archive (e.g. a CUDA tensor without CUDA)
        raise CorruptCheckpointError(filename, str(err).splitlines()[0] if str(err) else "ends early") from None
    except pickle.UnpicklingError as err:
        # torch's message wraps the one informative line (the refused global) in generic advice
        lines = [ln.strip() for ln in str(err).splitlines()]
        detail = next((ln for ln in lines if "GLOBAL" in ln or "getattr" in ln), None)
        if detail is None:  # no global was refused: the pickle itself is broken
            raise CorruptCheckpointError(filename, lines[-1] if lines else "") from None
        detail = detail.removeprefix("WeightsUnpickler error:").strip()
        raise UnsafeCheckpointError(
            f"{filename}: refused to load (weights-only unpickling): {detail} "
            "tspsis allows only what mmengine checkpoints contain (tspsis.core.checkpoint.MMENGINE_CHECKPOINT_GLOBALS). "
            "If you trust this file, allow the class with torch.serialization.add_safe_globals([...]).") from None


def install_mmengine_loader() -> None:
    """Make mmengine's local checkpoint loader (resume, ``load_from``) use :func:`load_checkpoint_file`."""
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes="", loader=load_checkpoint_file, force=True)
