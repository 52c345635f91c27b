"""The mmdet layer, in mmdet's own layout: importing it registers tspsis' datasets, transforms, data preprocessors,
RoI heads, BoxInst heads, the GrabCut detector, the pseudo-labeller, the metric, the hooks and the optimizer wrapper
in mmdet's / mmengine's registries, and installs the weights-only checkpoint loader.

Configs load it with ``custom_imports = dict(imports=['tspsis.plugin'], allow_failed_imports=False)`` (the old
``tspsis.models`` still works for one release: an alias that imports this package and warns).
"""
from tspsis.core.checkpoint import install_mmengine_loader
from tspsis.plugin import roi_align  # noqa: F401
from tspsis.plugin.data_preprocessors import boxinst_preprocessor, image_keeping  # noqa: F401
from tspsis.plugin.datasets import partial_coco  # noqa: F401
from tspsis.plugin.dense_heads import boxinst  # noqa: F401
from tspsis.plugin.detectors import grabcut  # noqa: F401
from tspsis.plugin.hooks import atomic_checkpoint, pseudo_mask_monitor, teacher_coverage  # noqa: F401
from tspsis.plugin.metrics import partial_coco_metric  # noqa: F401
from tspsis.plugin.optim_wrappers import cpu_bf16_optim_wrapper  # noqa: F401
from tspsis.plugin.roi_heads import (box_conditioned, cpmask, maskx, opmask, partial_roi_head,  # noqa: F401
                                     teacher_student)
from tspsis.plugin.task_modules import pseudo_labeler  # noqa: F401
from tspsis.plugin.transforms import loading  # noqa: F401

install_mmengine_loader()
