"""tspsis: teacher-student mask heads for partially supervised instance segmentation.

Importing the package allowlists the globals that mmengine checkpoints contain for torch's weights-only
unpickler (:mod:`tspsis.checkpoint`), so that ``resume`` and ``load_from`` work under torch >= 2.6 without
disabling weights-only loading.
"""
from .checkpoint import register_safe_globals as _register_safe_globals

__version__ = "0.1.0"

_register_safe_globals()
