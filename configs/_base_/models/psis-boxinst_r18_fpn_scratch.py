# Partially supervised BoxInst (the paper's "BoxInst" rows, Table 1), CPU-sized: BoxInst's box losses on every object
# plus a mask loss on the objects of seen categories, which have ground-truth masks.
_base_ = './boxinst_r18_fpn_scratch.py'

model = dict(mask_head=dict(
    type='PartialBoxInstMaskHead',
    # L_seg on seen masks only (Eq. 5): CondInst's dice loss, key loss_mask_seen
    loss_mask_seen=dict(type='DiceLoss', use_sigmoid=True, activate=True, eps=5e-6, loss_weight=1.0)))
