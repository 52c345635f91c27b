# OPMask (Biertimpel et al. 2021) on R50-FPN, partially supervised (the paper's "OPMask" rows, Table 1), after the
# authors' detectron2 config opmask_R50_FPN_1x.yaml: a box head of 4 convolutions + GAP whose class-activation map
# (CAM) of the object's class is added to the mask RoI features, a 7-conv class-agnostic mask head, SyncBN in both
# heads. Options: tspsis.models.opmask.
_base_ = './mask-rcnn_r50_fpn_paper.py'

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
