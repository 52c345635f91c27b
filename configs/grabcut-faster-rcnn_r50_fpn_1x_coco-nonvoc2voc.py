# Mask GrabCut (Faster R-CNN boxes, GrabCut masks), COCO nonvoc2voc:
# boxes of every category train the detector;
# scored on the voc categories as unseen (masks of the nonvoc categories are not used).
# Paper, Table 1 ("Mask GrabCut"): 19.6 mask AP on the unseen categories.
_base_ = ['./_base_/models/grabcut-faster-rcnn_r50_fpn.py', './_base_/datasets/coco_nonvoc2voc.py',
          './_base_/schedules/schedule_1x.py']
