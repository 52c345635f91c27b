# Synthetic benchmark on one GPU: the CPU schedule, 10x longer, with mixed precision. With 16 images per
# iteration (set by the experiment config) lr 0.02 is the paper's own lr-to-batch ratio (Sec. 5.1); gradients
# stay clipped (from-scratch R18, see schedule_synth_cpu.py).
_base_ = './schedule_synth_cpu.py'

max_iters = 3000
warmup_iters = 200

train_cfg = dict(max_iters=max_iters, val_interval=1000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[max_iters * 8 // 12, max_iters * 11 // 12], gamma=0.1),
]
optim_wrapper = dict(type='AmpOptimWrapper', optimizer=dict(lr=0.02))  # fp16 autocast + dynamic loss scaling

default_hooks = dict(checkpoint=dict(interval=500))
