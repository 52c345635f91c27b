# MaskX R-CNN (mask weights w_seg^c = T(w_det^c) from the box head), COCO voc2nonvoc:
# masks for the voc categories only; the nonvoc categories are box-only and scored as unseen.
# Paper, Table 1 ("MaskX R-CNN"): 23.7 mask AP on the unseen categories.
_base_ = ['./_base_/models/maskx-rcnn_r50_fpn.py', './_base_/datasets/coco_voc2nonvoc.py',
          './_base_/schedules/schedule_1x.py']
