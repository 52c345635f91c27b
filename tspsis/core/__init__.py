"""The core layer: pure torch / numpy, no mmdet, mmcv or mmengine at import time (docs/DESIGN.md, "Layers").

The paper's constants (``paper``), the category splits (``splits``), object overlap O (Eq. 1, ``overlap``),
class-activation maps (Eq. 8-9, ``cam``), pseudo-mask post-processing r(.) and cleaning (``pseudo``), COCO
validation and option checks (``validate``), the synthetic benchmark (``synth``: ``synth.render``,
``synth.writer``), dataset and seed statistics (``stats``), the helpers every layer shares (``io``, ``paths``,
``errors``, ``signals``, ``checkpoint``) and the inputs of tests and benchmarks (``testing``).
"""
