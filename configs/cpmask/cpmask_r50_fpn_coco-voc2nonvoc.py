# CPMask (Fan et al., ECCV 2020; "CPMask", Table 1) on the partially supervised Mask R-CNN R50-FPN, COCO
# voc -> nonvoc: masks for the 20 voc categories only; the 60 nonvoc categories are box-only and scored as unseen.
# A class-agnostic mask head with a boundary branch (shape commonality) and a pixel-affinity block (appearance
# commonality); mask, boundary and affinity losses on seen-category objects only.
# What CPMask's definitions were taken to be: tspsis.plugin.roi_heads.cpmask (module docstring).
# Paper, Table 1: 28.8 mask AP on the unseen categories.
_base_ = '../mask_rcnn/psis-mask-rcnn_r50_fpn_coco-voc2nonvoc.py'

model = dict(roi_head=dict(
    type='CPMaskRoIHead',
    mask_head=dict(
        type='CPMaskHead',
        # boundary = dilation XOR erosion of the GT mask on the 28x28 RoI grid; per-pixel BCE, weight 0.5
        loss_boundary=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=0.5),
        loss_affinity_weight=0.5)))  # |1 - attention mass of foreground pixels on the foreground|, weight 0.5
