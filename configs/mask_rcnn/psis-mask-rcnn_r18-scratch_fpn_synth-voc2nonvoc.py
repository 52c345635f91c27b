# Partially supervised Mask R-CNN, the paper's class-agnostic baseline ("Mask R-CNN", Table 1), on the synthetic
# benchmark, voc -> nonvoc (masks for the 6 voc-like categories only; the 18 others are box-only and scored as
# unseen); R18 from scratch, sized for a 2-core CPU (one GPU: mixin ../_base_/schedules/synth-gpu_1xb16-3000it.py).
_base_ = ['../_base_/models/mask-rcnn_r18-scratch_fpn.py', '../_base_/datasets/synth_voc2nonvoc.py',
          '../_base_/schedules/schedule_synth_cpu.py']

model = dict(roi_head=dict(
    type='PartialRoIHead',                    # mask loss on RoIs whose object has a mask (seen categories S)
    mask_head=dict(class_agnostic=True)))     # one foreground/background channel for every category
