"""The mmdet plugin: importing it registers tspsis' datasets, transforms, RoI heads, pseudo-labeller, other methods,
metric and checkpoint hook (``tspsis.hooks``).

Configs load it with ``custom_imports = dict(imports=['tspsis.models'], allow_failed_imports=False)``.
"""
from .. import hooks  # noqa: F401
from ..checkpoint import install_mmengine_loader
from . import (box_conditioned, boxinst, cpmask, dataset, grabcut, loading, maskx, metric, monitor,  # noqa: F401
               opmask, precision, pseudo_labeler, roi_align, roi_heads)

install_mmengine_loader()
