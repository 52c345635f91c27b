# BoxInst sized for the synthetic benchmark on a CPU, like mask-rcnn_r18-scratch_fpn.py: ResNet-18 + a 64-channel
# FPN, trained from scratch (no pretrained weights can be downloaded here).
_base_ = './boxinst_r50_fpn.py'

num_classes = 24  # categories of the synthetic benchmark (tspsis.core.synth)
width = 64        # FPN / box-tower / mask-branch feature channels

model = dict(
    data_preprocessor=dict(bottom_pixels_removed=0),  # the synthetic masks have no COCO bottom-row artefact
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=width),
    bbox_head=dict(num_classes=num_classes, in_channels=width, feat_channels=width),
    mask_head=dict(
        mask_feature_head=dict(in_channels=width, feat_channels=width),
        warmup_iters=33))  # pairwise term ramps up over 1/9 of training, as BoxInst's 10k of 90k (300 iterations here)
