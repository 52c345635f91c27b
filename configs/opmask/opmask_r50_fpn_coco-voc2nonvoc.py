# OPMask (Biertimpel et al. 2021; "OPMask", Table 1), partially supervised, on R50-FPN, COCO voc -> nonvoc: masks for
# the 20 voc categories only; the 60 nonvoc categories are box-only and scored as unseen. After the authors'
# detectron2 config opmask_R50_FPN_1x.yaml: a box head of 4 convolutions + GAP whose class-activation map (CAM) of
# the object's class is added to the mask RoI features, a 7-conv class-agnostic mask head, SyncBN in both heads,
# gradient clipping by value. Options: tspsis.plugin.roi_heads.opmask.
# Paper, Table 1: 29.7 mask AP on the unseen categories.
_base_ = ['../_base_/models/mask-rcnn_r50_fpn_paper.py', '../_base_/datasets/coco_voc2nonvoc.py',
          '../_base_/schedules/schedule_1x.py']

norm_cfg = dict(type='SyncBN', requires_grad=True)  # OPMask: NORM "SyncBN" in the box and mask heads

model = dict(roi_head=dict(
    type='OPMaskRoIHead',         # normalised CAM of the object's class (Eq. 9) + mask RoI features (OPMask)
    bbox_head=dict(
        type='CAMBBoxHead',       # p_cls = GAP(F) . W_cls + b_cls (Eq. 8); CAM_ij = F_ij . W_cls + b_cls (Eq. 9)
        num_convs=4,              # OPMask's box head: 4 convs, no fc (fc_out_channels is unused)
        conv_out_channels=256,    # D: F in R^(7x7x256) (Sec. 5.1); OPMask's own head is 1024 wide
        norm_cfg=norm_cfg),
    mask_head=dict(
        num_convs=7,              # OPMask's mask head: 7 convs + deconv
        class_agnostic=True,      # one foreground channel, trained on seen-category masks only
        norm_cfg=norm_cfg)))

# OPMask's gradient clipping (detectron2 SOLVER.CLIP_GRADIENTS: by value, 1.0)
optim_wrapper = dict(clip_grad=dict(type='value', clip_value=1.0))
