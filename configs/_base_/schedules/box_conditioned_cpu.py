# Sizing and schedule of the box-conditioned track on a 2-core CPU (a mixin over a synthetic two-stage model and
# the track, configs/_base_/tracks/box_conditioned.py). Every method gets the same scaled-down network, so rows
# compare with each other (not with the paper's R50): the cost per image is set by FLOPs, measured with
# benchmarks/bench_box_conditioned.py.
width = 32  # D: FPN, RoI features and mask-head convolutions (the detector track's CPU configs: 64)
model = dict(
    backbone=dict(base_channels=16, stem_channels=16),  # ResNet-18 layout at a quarter of its width
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(in_channels=width),
        # 7x7 mask RoI features -> 14x14 masks (Mask R-CNN: 14 -> 28): the objects of the 160 px images are
        # ~10-60 px wide, 2-15 feature pixels at stride 4
        mask_roi_extractor=dict(out_channels=width, roi_layer=dict(output_size=7)),
        mask_head=dict(in_channels=width, conv_out_channels=width, roi_feat_size=7)),
    train_cfg=dict(rcnn=dict(mask_size=14)))  # mmdet's own mask targets (the oracle's StandardRoIHead) at 14x14

# 16 images per iteration (the paper's batch), lr 0.02 (the paper's; 0.01 in the detector track's 4-image CPU
# schedule); the schedule's shape (warm-up, steps at 8/12 and 11/12) is the detector track's.
optim_wrapper = dict(optimizer=dict(lr=0.02))

# The decoded images and masks are cached per image (tspsis.models.loading.CachedTransforms): decoding cost as
# much as a training step of this network. Needs num_workers=0 to keep one cache across epochs.
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    dataset=dict(pipeline=[
        dict(type='CachedTransforms', transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadPartialAnnotations', with_bbox=True, with_mask=True),
            dict(type='Resize', scale_factor=1.0, keep_ratio=True)]),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackPartialDetInputs')]))
