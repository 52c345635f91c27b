# Partially supervised BoxInst ("BoxInst", Table 1) on the synthetic benchmark, voc -> nonvoc (masks for the 6
# voc-like categories only; the 18 others are box-only and scored as unseen): BoxInst's box-supervised losses on
# every object plus a mask loss on the objects of seen categories. R18 from scratch, sized for a 2-core CPU (one
# GPU: mixin ../_base_/schedules/boxinst-synth-gpu_1xb16-3000it.py, which keeps BoxInst's lr).
_base_ = ['../_base_/models/boxinst_r18-scratch_fpn.py', '../_base_/datasets/synth_voc2nonvoc.py',
          '../_base_/schedules/schedule_synth_cpu.py']

model = dict(mask_head=dict(
    type='PartialBoxInstMaskHead',
    # L_seg on seen masks only (Eq. 5): CondInst's dice loss, key loss_mask_seen
    loss_mask_seen=dict(type='DiceLoss', use_sigmoid=True, activate=True, eps=5e-6, loss_weight=1.0)))
