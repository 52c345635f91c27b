# OPMask (class-agnostic mask head fed the CAM of the object's class), COCO nonvoc2voc:
# masks for the nonvoc categories only; the voc categories are box-only and scored as unseen.
# Paper, Table 1 ("OPMask"): 35.0 mask AP on the unseen categories.
_base_ = ['./_base_/models/opmask_r50_fpn.py', './_base_/datasets/coco_nonvoc2voc.py',
          './_base_/schedules/schedule_1x.py']

# OPMask's gradient clipping (detectron2 SOLVER.CLIP_GRADIENTS: by value, 1.0)
optim_wrapper = dict(clip_grad=dict(type='value', clip_value=1.0))
