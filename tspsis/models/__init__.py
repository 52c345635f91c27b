"""The mmdet plugin: importing it registers tspsis' datasets, transforms, RoI heads, other methods and metric.

Configs load it with ``custom_imports = dict(imports=['tspsis.models'], allow_failed_imports=False)``.
"""
from ..checkpoint import install_mmengine_loader
from . import box_conditioned, boxinst, cpmask, dataset, grabcut, loading, maskx, metric, opmask, roi_heads  # noqa: F401

install_mmengine_loader()
