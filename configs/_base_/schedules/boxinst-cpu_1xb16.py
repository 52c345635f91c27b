# Sizing of BoxInst (configs/boxinst, the detector track only) on a 2-core CPU: the network of the two-stage rows'
# sizing (./box-cpu_1xb16.py: ResNet-18 at a quarter width + FPN at D = 32) with BoxInst's own heads at D — the FCOS
# box tower and the mask branch whose features the dynamic mask heads read — and the shared ./cpu_1xb16.py (16
# images per iteration, bf16 fast path with detections decoded in fp32, cached decoding). BoxInst keeps its own lr
# (0.01 for 16 images, as in its one-GPU sizing ./boxinst-synth-gpu_1xb16-3000it.py) and its pairwise-term warm-up
# at 1/9 of training (the profile's iterations rescale it). In the detector-track profiles this replaces the
# two-stage sizing ./detector-cpu_1xb16.py (tspsis.lab.registry: Method.sizing_substitutes); from the shared
# pre-trained detector it loads what it shares: the backbone (its FPN reads C3-C5 and adds P6/P7, so the
# pre-training's lateral convolutions do not fit and start afresh).
_base_ = './cpu_1xb16.py'

width = 32  # D: FPN, FCOS box tower, mask branch
model = dict(
    backbone=dict(base_channels=16, stem_channels=16),  # ResNet-18 layout at a quarter of its width
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=width),
    # GroupNorm of 8 channels a group as at D = 256 (32 groups): 32 groups of one channel fail on P7's 1x1 maps
    bbox_head=dict(in_channels=width, feat_channels=width, norm_cfg=dict(type='GN', num_groups=width // 8,
                                                                         requires_grad=True)),
    mask_head=dict(mask_feature_head=dict(in_channels=width, feat_channels=width)))
optim_wrapper = dict(optimizer=dict(lr=0.01))
