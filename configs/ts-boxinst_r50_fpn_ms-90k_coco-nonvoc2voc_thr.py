# Teacher-student mask heads on partially supervised BoxInst with r(Mt) = Mt >= 0.5, COCO nonvoc2voc: masks for the
# nonvoc categories only; the voc categories are box-only and scored as unseen.
# Paper, Table 1 ("BoxInst + ours"): 34.4 mask AP on the unseen categories; Table 5 (threshold): 34.2.
_base_ = ['./_base_/models/ts-boxinst_r50_fpn.py', './_base_/datasets/coco_nonvoc2voc.py',
          './_base_/schedules/schedule_boxinst_ms-90k.py']

train_dataloader = dict(dataset=dict(pipeline=_base_.ms_train_pipeline))  # shorter side 640..800 (BoxInst)
