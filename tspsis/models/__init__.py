"""Deprecated alias of :mod:`tspsis.plugin` (kept for one release, docs/configs.md): importing it registers the
plugin exactly as ``tspsis.plugin`` does, so configs with ``custom_imports=dict(imports=['tspsis.models'])`` keep
working. Use ``tspsis.plugin`` in new configs."""
import warnings

import tspsis.plugin  # noqa: F401  (registers everything)

warnings.warn("tspsis.models is deprecated and will be removed in the next release: import tspsis.plugin "
              "(custom_imports=dict(imports=['tspsis.plugin']))", DeprecationWarning, stacklevel=2)
