# Partially supervised BoxInst ("BoxInst", Table 1), R50-FPN, COCO voc -> nonvoc: masks for the 20 voc categories
# only; the 60 nonvoc categories are box-only and scored as unseen. BoxInst's box-supervised losses on every object
# plus a mask loss on the objects of seen categories; BoxInst's own schedule and multi-scale training (Sec. 4.3).
# Paper, Table 1: 30.4 mask AP on the unseen categories.
_base_ = ['../_base_/models/boxinst_r50_fpn.py', '../_base_/datasets/coco_voc2nonvoc.py',
          '../_base_/schedules/schedule_boxinst_ms-90k.py']

model = dict(mask_head=dict(
    type='PartialBoxInstMaskHead',
    # L_seg on seen masks only (Eq. 5): CondInst's dice loss, key loss_mask_seen
    loss_mask_seen=dict(type='DiceLoss', use_sigmoid=True, activate=True, eps=5e-6, loss_weight=1.0)))

train_dataloader = dict(dataset=dict(pipeline=_base_.ms_train_pipeline))  # shorter side 640..800 (BoxInst)
