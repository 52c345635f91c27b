"""The mmdet plugin: importing it registers tspsis' datasets, transforms, RoI heads and metric.

Configs load it with ``custom_imports = dict(imports=['tspsis.models'], allow_failed_imports=False)``.
"""
from ..checkpoint import install_mmengine_loader
from . import dataset, loading, metric, roi_heads  # noqa: F401  (registration side effects)

install_mmengine_loader()
