# Sizing and schedule of the box-conditioned track on a 2-core CPU (a mixin over a synthetic two-stage model and
# the track, configs/_base_/tracks/box-conditioned.py). Every method gets the same scaled-down network, so rows
# compare with each other (not with the paper's R50): the cost per image is set by FLOPs, measured with
# benchmarks/bench_box_conditioned.py. Name: mmdet's schedule token, 1 process x 16 images; the number of iterations
# is the profile's (`--max-iters`, e.g. 500 in `demo`, which rescales the base schedule), and the run's composed name
# carries it (tspsis.engine.config.composed_name: `...+box-cpu_1xb16+...+500it`).
_base_ = './cpu_1xb16.py'
width = 32  # D: FPN, RoI features and mask-head convolutions (the detector track's CPU configs: 64)
# RoIAlign as two matrix products (tspsis.plugin.roi_align): torchvision's values and gradients, its CPU backward
# (20-30 % of a bf16 step) 2-3x faster
roi_align = dict(_delete_=True, type='SeparableRoIAlign', sampling_ratio=0, aligned=True)
model = dict(
    backbone=dict(base_channels=16, stem_channels=16),  # ResNet-18 layout at a quarter of its width
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width, roi_layer=dict(roi_align, output_size=7)),
        bbox_head=dict(in_channels=width),
        # Mask R-CNN's mask head: 14x14 RoI features -> 28x28 masks. A quarter-size head (7x7 -> 14x14) costs 25 %
        # less but cripples class-specific heads (Oracle -6 to -11 unseen AP, measured on held-out data; README)
        mask_roi_extractor=dict(out_channels=width, roi_layer=dict(roi_align, output_size=14)),
        mask_head=dict(in_channels=width, conv_out_channels=width, roi_feat_size=14)),
    train_cfg=dict(rcnn=dict(mask_size=28)))  # the 28x28 mask targets of every head (mmdet's default)

# 16 images per iteration (./cpu_1xb16.py: the paper's batch, the bf16 fast path, cached decoding) at lr 0.02 (the
# paper's; 0.01 in the detector track's 4-image CPU schedule); the schedule's shape (warm-up, steps at 8/12 and 11/12)
# is the detector track's.
optim_wrapper = dict(optimizer=dict(lr=0.02))
