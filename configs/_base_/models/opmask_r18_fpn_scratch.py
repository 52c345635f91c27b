# OPMask (Biertimpel et al. 2021), partially supervised, on the CPU-sized Mask R-CNN: a box head of 4 convolutions
# + GAP whose class-activation map (CAM) of the object's class is added to the mask RoI features, a 7-conv
# class-agnostic mask head. Options: tspsis.models.opmask.
_base_ = './mask-rcnn_r18_fpn_scratch.py'

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
