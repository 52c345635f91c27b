# Synthetic benchmark on a 2-core CPU: minutes of training, not hours (an iteration of 4 images of 160 px took
# ~4 s on 2 busy shared cores with torch on 1 thread; 300 iterations are 0.8 epoch of the 1500-image profile).
# The 1x schedule's shape in iterations: SGD (momentum 0.9, weight decay 1e-4) after a linear warm-up, lr x 0.1
# at 8/12 and 11/12 of the run; validation once, at the end. Unlike the paper's ImageNet-initialised R50, the
# R18 here starts from scratch with 4 images per batch: at lr 0.02 it diverged (loss NaN right after the
# warm-up), so lr is 0.01 and gradients are clipped.
# A child that changes max_iters must also set param_scheduler and the checkpoint interval (built from it here);
# `tspsis train --max-iters N` rescales all three. One GPU instead: the mixin ./synth-gpu_1xb16-3000it.py.
_base_ = '../default_runtime.py'

max_iters = 300
warmup_iters = 50

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[max_iters * 8 // 12, max_iters * 11 // 12], gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2))

default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters // 6))  # a killed run resumes from here
log_processor = dict(by_epoch=False)
