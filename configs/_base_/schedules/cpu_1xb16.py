# What every CPU sizing of the synthetic benchmark shares, whatever the architecture (./box-cpu_1xb16.py for the
# two-stage models, ./boxinst-cpu_1xb16.py for BoxInst): 16 images per iteration (the paper's batch), the bf16 fast
# path and the per-image cache of decoded data. Not a mixin of its own: the sizings list it as their _base_.
# Forward + loss under bf16 autocast where the CPU computes bf16 natively (fp32 weights, gradients and SGD state;
# tspsis.plugin.optim_wrappers.cpu_bf16_optim_wrapper), in channels-last memory: with SeparableRoIAlign x1.6-1.9
# per step against fp32 with torchvision's RoIAlign (README, "Speed"); results equal within the seed spread.
optim_wrapper = dict(type='CPUBF16OptimWrapper', enabled='auto')

# The decoded images and masks are cached per image (tspsis.plugin.transforms.loading.CachedTransforms): decoding cost as
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
