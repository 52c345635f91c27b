# Oracle (Table 1): class-specific Mask R-CNN trained with the masks of all 80 categories, scored on the
# unseen categories of nonvoc2voc. Paper: 33.0 mask AP.
_base_ = ['./_base_/models/mask-rcnn_r50_fpn_paper.py', './_base_/datasets/coco_oracle_nonvoc2voc.py',
          './_base_/schedules/schedule_1x.py']
