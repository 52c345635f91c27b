# CPMask (Fan et al., ECCV 2020; the paper's "CPMask" row, Table 1) on the partially supervised Mask R-CNN
# (./psis-mask-rcnn_r18_fpn_scratch.py): a class-agnostic mask head with a boundary branch (shape commonality)
# and a pixel-affinity block (appearance commonality); mask, boundary and affinity losses on seen-category
# objects only.
# What CPMask's definitions were taken to be: tspsis.models.cpmask (module docstring).
_base_ = './psis-mask-rcnn_r18_fpn_scratch.py'

model = dict(roi_head=dict(
    type='CPMaskRoIHead',
    mask_head=dict(
        type='CPMaskHead',
        # boundary = dilation XOR erosion of the GT mask on the 28x28 RoI grid; per-pixel BCE, weight 0.5
        loss_boundary=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=0.5),
        loss_affinity_weight=0.5)))  # |1 - attention mass of foreground pixels on the foreground|, weight 0.5
