# Mask R-CNN R50-FPN as in the paper (Sec. 5.1): mmdet's model with an ImageNet-pretrained ResNet-50
# (torchvision://resnet50, downloaded on first use), 80 COCO classes; test: the top 512 proposals,
# NMS IoU 0.5, 150 detections per image.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

model = dict(test_cfg=dict(
    rpn=dict(max_per_img=512),
    rcnn=dict(nms=dict(iou_threshold=0.5), max_per_img=150)))
