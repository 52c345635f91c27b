# Partially supervised BoxInst, COCO voc2nonvoc: masks for the voc categories only; the nonvoc categories are box-only
# and scored as unseen. BoxInst's own schedule and multi-scale training (Sec. 4.3).
# Paper, Table 1 ("BoxInst"): 30.4 mask AP on the unseen categories.
_base_ = ['./_base_/models/psis-boxinst_r50_fpn.py', './_base_/datasets/coco_voc2nonvoc.py',
          './_base_/schedules/schedule_boxinst_ms-90k.py']

train_dataloader = dict(dataset=dict(pipeline=_base_.ms_train_pipeline))  # shorter side 640..800 (BoxInst)
