# Plain (fully supervised, class-specific) Mask R-CNN from scratch: the stack's smoke test
# (tests/repo/test_mmdet_stack.py). Model only: no dataset, no schedule.
_base_ = '../_base_/models/mask-rcnn_r18-scratch_fpn.py'
