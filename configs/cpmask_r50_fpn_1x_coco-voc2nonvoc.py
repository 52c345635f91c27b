# CPMask (boundary and pixel-affinity losses on a class-agnostic mask head), partially supervised, COCO voc2nonvoc:
# masks for the voc categories only; the nonvoc categories are box-only and scored as unseen.
# Paper, Table 1 ("CPMask"): 28.8 mask AP on the unseen categories.
_base_ = ['./_base_/models/cpmask_r50_fpn.py', './_base_/datasets/coco_voc2nonvoc.py',
          './_base_/schedules/schedule_1x.py']
