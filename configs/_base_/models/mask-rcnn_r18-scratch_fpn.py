# Mask R-CNN sized for the synthetic benchmark on a CPU: ResNet-18 + a 64-channel FPN, trained from scratch
# (no pretrained weights can be downloaded here). Test settings follow the paper (Sec. 5.1): 512 proposals,
# NMS IoU 0.5, 150 detections per image.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

num_classes = 24  # categories of the synthetic benchmark (tspsis.core.synth)
width = 64        # FPN / RoI feature channels (D in Sec. 4.1)

model = dict(
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        # torchvision's RoIAlign: the same outputs and gradients as mmcv's (test_mmdet_stack.py), ~3x faster on CPU
        bbox_roi_extractor=dict(out_channels=width, roi_layer=dict(use_torchvision=True)),
        bbox_head=dict(in_channels=width, fc_out_channels=256, num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=width, roi_layer=dict(use_torchvision=True)),
        mask_head=dict(in_channels=width, conv_out_channels=width, num_classes=num_classes)),
    # ~6 objects per synthetic image: 128 sampled RoIs (25% positive) instead of COCO's 512 halves the cost of an
    # iteration on CPU and still samples every object several times.
    train_cfg=dict(rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(max_per_img=512),                         # "top 512 proposals", Sec. 5.1
        rcnn=dict(nms=dict(iou_threshold=0.5), max_per_img=150)))  # NMS 0.5, 150 detections, Sec. 5.1
