# Mask GrabCut (Faster R-CNN boxes, GrabCut masks), COCO voc2nonvoc:
# boxes of every category train the detector;
# scored on the nonvoc categories as unseen (masks of the voc categories are not used).
# Paper, Table 1 ("Mask GrabCut"): 19.7 mask AP on the unseen categories.
_base_ = ['./_base_/models/grabcut-faster-rcnn_r50_fpn.py', './_base_/datasets/coco_voc2nonvoc.py',
          './_base_/schedules/schedule_1x.py']
