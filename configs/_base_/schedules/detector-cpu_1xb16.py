# Sizing of the detector track (the paper's protocol: RPN proposals, sampled RoIs, NMS) on a 2-core CPU: the
# box-conditioned track's sizing (./box-cpu_1xb16.py: ResNet-18 at a quarter width + FPN at D = 32, 14x14 -> 28x28
# mask heads, 16 images per iteration at lr 0.02, bf16 fast path with proposals decoded in fp32) with the RPN at D
# and a RoI budget for ~6 objects per 160 px image. Every row of the track trains jointly (detector + its mask head)
# from the shared pre-trained detector (configs/_base_/pretrain/detection.py).
_base_ = './box-cpu_1xb16.py'

model = dict(
    rpn_head=dict(in_channels=32, feat_channels=32),  # D of the FPN
    train_cfg=dict(
        # proposals kept for the box and mask heads: the ~6 objects of an image are found among far fewer than
        # COCO's 2000 / 1000 (the RPN's recall of the objects in the val images is the same; README, detector track)
        rpn_proposal=dict(nms_pre=500, max_per_img=250),
        # RoIs sampled per image for the box head, 25 % positive: the mask heads train on the positives (<= 16).
        # mmdet's 512 RoIs and 1000 proposals: x4.2 per step, no better AP on held-out data (docs/results.md)
        rcnn=dict(sampler=dict(num=64))))
