# OPMask + teacher-student mask heads with r(Mt) = Mt >= 0.5, COCO voc2nonvoc:
# masks for the voc categories only; the nonvoc categories are box-only and scored as unseen.
# Paper, Table 1 ("OPMask + ours"): 30.9 mask AP on the unseen categories.
_base_ = ['./_base_/models/ts-opmask_r50_fpn.py', './_base_/datasets/coco_voc2nonvoc.py',
          './_base_/schedules/schedule_1x.py']

# OPMask's gradient clipping (detectron2 SOLVER.CLIP_GRADIENTS: by value, 1.0)
optim_wrapper = dict(clip_grad=dict(type='value', clip_value=1.0))
