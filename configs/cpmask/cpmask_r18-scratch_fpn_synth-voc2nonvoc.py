# CPMask (Fan et al., ECCV 2020; "CPMask", Table 1) on the partially supervised Mask R-CNN, synthetic benchmark,
# voc -> nonvoc (masks for the 6 voc-like categories only; the 18 others are box-only and scored as unseen); R18
# from scratch, sized for a 2-core CPU (one GPU: mixin ../_base_/schedules/synth-gpu_1xb16-3000it.py). The CPMask
# head of the R50 config: boundary and pixel-affinity losses on a class-agnostic head (tspsis.plugin.roi_heads.cpmask).
_base_ = '../mask_rcnn/psis-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py'

model = dict(roi_head=dict(
    type='CPMaskRoIHead',
    mask_head=dict(
        type='CPMaskHead',
        # boundary = dilation XOR erosion of the GT mask on the 28x28 RoI grid; per-pixel BCE, weight 0.5
        loss_boundary=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=0.5),
        loss_affinity_weight=0.5)))  # |1 - attention mass of foreground pixels on the foreground|, weight 0.5
