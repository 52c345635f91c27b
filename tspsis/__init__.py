"""tspsis: teacher-student mask heads for partially supervised instance segmentation.

Importing the package allowlists the globals that mmengine checkpoints contain for torch's weights-only
unpickler (:mod:`tspsis.core.checkpoint`), so that ``resume`` and ``load_from`` work under torch >= 2.6 without
disabling weights-only loading. Before that (before anything imports mmengine or mmdet) it silences the
``pkg_resources`` deprecation warnings that their imports print on every command (``quiet_pkg_resources``).
"""
import warnings as _warnings


def quiet_pkg_resources() -> None:
    """Silence the deprecation warnings of ``pkg_resources`` that mmengine's and mmdet's imports trigger
    (setuptools is pinned below 81 for it, see docs/installation.md); nothing else."""
    _warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    _warnings.filterwarnings("ignore", message="Deprecated call to `pkg_resources", category=DeprecationWarning)


quiet_pkg_resources()

from tspsis.core.checkpoint import register_safe_globals as _register_safe_globals  # noqa: E402  (after the filter)

__version__ = "0.1.0"

_register_safe_globals()
