# Partially supervised Mask R-CNN baseline (the paper's class-agnostic "Mask R-CNN" rows, Table 1), CPU-sized:
# one foreground/background mask channel, trained on seen-category masks only.
_base_ = './mask-rcnn_r18_fpn_scratch.py'

model = dict(roi_head=dict(
    type='PartialRoIHead',                    # mask loss on RoIs whose object has a mask (seen categories S)
    mask_head=dict(class_agnostic=True)))     # one channel for every category
