# Partially supervised Mask R-CNN, the paper's class-agnostic baseline ("Mask R-CNN", Table 1), R50-FPN, COCO
# voc -> nonvoc: masks for the 20 voc categories only; the 60 nonvoc categories are box-only and scored as unseen.
# Paper, Table 1: 19.2 mask AP on the unseen categories.
_base_ = ['../_base_/models/mask-rcnn_r50_fpn_paper.py', '../_base_/datasets/coco_voc2nonvoc.py',
          '../_base_/schedules/schedule_1x.py']

model = dict(roi_head=dict(
    type='PartialRoIHead',                    # mask loss on RoIs whose object has a mask (seen categories S)
    mask_head=dict(class_agnostic=True)))     # one foreground/background channel for every category
