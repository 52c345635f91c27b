# CPMask (boundary and pixel-affinity losses on a class-agnostic mask head), partially supervised, COCO nonvoc2voc:
# masks for the nonvoc categories only; the voc categories are box-only and scored as unseen.
# Paper, Table 1 ("CPMask"): 34.9 mask AP on the unseen categories.
_base_ = ['./_base_/models/cpmask_r50_fpn.py', './_base_/datasets/coco_nonvoc2voc.py',
          './_base_/schedules/schedule_1x.py']
