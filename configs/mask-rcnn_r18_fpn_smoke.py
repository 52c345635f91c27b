# Plain (fully supervised, class-specific) Mask R-CNN from scratch: the stack's smoke test (tests/integration).
_base_ = './_base_/models/mask-rcnn_r18_fpn_scratch.py'
