# OPMask (Biertimpel et al. 2021; "OPMask", Table 1), partially supervised, on the synthetic benchmark, voc -> nonvoc
# (masks for the 6 voc-like categories only; the 18 others are box-only and scored as unseen); R18 from scratch,
# sized for a 2-core CPU (one GPU: mixin ../_base_/schedules/synth-gpu_1xb16-3000it.py). The heads of the R50 config at the R18
# model's width, with plain BN (one process) and the synthetic schedule's norm-based gradient clipping.
_base_ = ['../_base_/models/mask-rcnn_r18-scratch_fpn.py', '../_base_/datasets/synth_voc2nonvoc.py',
          '../_base_/schedules/schedule_synth_cpu.py']

norm_cfg = dict(type='BN', requires_grad=True)  # OPMask uses SyncBN; one process here, so plain BN

model = dict(roi_head=dict(
    type='OPMaskRoIHead',         # normalised CAM of the object's class (Eq. 9) + mask RoI features (OPMask)
    bbox_head=dict(
        type='CAMBBoxHead',       # p_cls = GAP(F) . W_cls + b_cls (Eq. 8); CAM_ij = F_ij . W_cls + b_cls (Eq. 9)
        num_convs=4,              # OPMask's box head: 4 convs, no fc (fc_out_channels is unused)
        conv_out_channels=_base_.width,  # D: F in R^(7x7xD), D = the FPN width here
        norm_cfg=norm_cfg),
    mask_head=dict(
        num_convs=7,              # OPMask's mask head: 7 convs + deconv
        class_agnostic=True,      # one foreground channel, trained on seen-category masks only
        norm_cfg=norm_cfg)))
