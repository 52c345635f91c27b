# MaskX R-CNN (Hu et al. 2018, "Learning to Segment Every Thing"; "MaskX R-CNN", Table 1) on R50-FPN, COCO
# voc -> nonvoc: masks for the 20 voc categories only; the 60 nonvoc categories are box-only and scored as unseen.
# A weight-transfer function T maps each class's box-head weights to its mask weights; configured as Hu et al.'s
# final model (cls+box, 2-layer LeakyReLU MLP, transfer + MLP, stop-gradient on w_det). Options: tspsis.plugin.roi_heads.maskx.
# Paper, Table 1: 23.7 mask AP on the unseen categories.
_base_ = ['../_base_/models/mask-rcnn_r50_fpn_paper.py', '../_base_/datasets/coco_voc2nonvoc.py',
          '../_base_/schedules/schedule_1x.py']

model = dict(roi_head=dict(
    type='MaskXRoIHead',          # mask loss on seen-category objects only; unseen classes get w_seg^c = T(w_det^c)
    det_weights='cls+box',        # w_det^c = [W_cls^c, W_reg^c]: 1024 + 4 x 1024 values ('cls+box', Hu et al.)
    stop_det_grad=True,           # the mask loss trains T, never w_det (Hu et al.'s stop-gradient)
    weight_transfer=dict(
        type='WeightTransfer',    # T
        hidden_channels=256,      # hidden width = mask feature width D (Hu et al.)
        num_layers=2,             # '2-layer' MLP
        negative_slope=0.1),      # LeakyReLU(0.1) between the layers
    mask_head=dict(
        type='MaskXMaskHead',     # class-specific; last 1x1 conv weights = w_seg (C x D), no bias
        class_agnostic_mlp=True)))  # 'transfer + MLP': + class-agnostic fc mask branch (D x 28 x 28 -> 28 x 28)
