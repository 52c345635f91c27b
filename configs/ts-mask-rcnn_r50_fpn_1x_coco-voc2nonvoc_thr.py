# Teacher-student mask heads with r(Mt) = Mt >= 0.5, COCO voc2nonvoc:
# masks for the voc categories only; the nonvoc categories are box-only and scored as unseen.
# Paper, Table 1 ("Mask R-CNN + ours"): 21.6 mask AP on the unseen categories.
_base_ = ['./_base_/models/ts-mask-rcnn_r50_fpn.py', './_base_/datasets/coco_voc2nonvoc.py',
          './_base_/schedules/schedule_1x.py']
