# MaskX R-CNN (mask weights w_seg^c = T(w_det^c) from the box head), COCO nonvoc2voc:
# masks for the nonvoc categories only; the voc categories are box-only and scored as unseen.
# Paper, Table 1 ("MaskX R-CNN"): 28.9 mask AP on the unseen categories.
_base_ = ['./_base_/models/maskx-rcnn_r50_fpn.py', './_base_/datasets/coco_nonvoc2voc.py',
          './_base_/schedules/schedule_1x.py']
