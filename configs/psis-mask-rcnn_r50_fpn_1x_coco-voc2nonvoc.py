# Partially supervised Mask R-CNN baseline (class-agnostic mask head), COCO voc2nonvoc:
# masks for the voc categories only; the nonvoc categories are box-only and scored as unseen.
# Paper, Table 1 ("Mask R-CNN"): 19.2 mask AP on the unseen categories.
_base_ = ['./_base_/models/psis-mask-rcnn_r50_fpn.py', './_base_/datasets/coco_voc2nonvoc.py',
          './_base_/schedules/schedule_1x.py']
