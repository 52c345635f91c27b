# MaskX R-CNN (Hu et al. 2018; "MaskX R-CNN", Table 1) on the synthetic benchmark, voc -> nonvoc (masks for the 6
# voc-like categories only; the 18 others are box-only and scored as unseen); R18 from scratch, sized for a 2-core
# CPU (one GPU: mixin ../_base_/schedules/synth-gpu_1xb16-3000it.py). The model of the R50 config, at the R18 model's width.
_base_ = ['../_base_/models/mask-rcnn_r18-scratch_fpn.py', '../_base_/datasets/synth_voc2nonvoc.py',
          '../_base_/schedules/schedule_synth_cpu.py']

model = dict(roi_head=dict(
    type='MaskXRoIHead',          # mask loss on seen-category objects only; unseen classes get w_seg^c = T(w_det^c)
    det_weights='cls+box',        # w_det^c = [W_cls^c, W_reg^c]: 256 + 4 x 256 values here ('cls+box', Hu et al.)
    stop_det_grad=True,           # the mask loss trains T, never w_det (Hu et al.'s stop-gradient)
    weight_transfer=dict(
        type='WeightTransfer',    # T
        hidden_channels=_base_.width,  # hidden width = mask feature width D (Hu et al.)
        num_layers=2,             # '2-layer' MLP
        negative_slope=0.1),      # LeakyReLU(0.1) between the layers
    mask_head=dict(
        type='MaskXMaskHead',     # class-specific; last 1x1 conv weights = w_seg (C x D), no bias
        class_agnostic_mlp=True)))  # 'transfer + MLP': + class-agnostic fc mask branch (D x 28 x 28 -> 28 x 28)
