# MIXIN (hardware sizing, mmdet's schedule token in its name): the synthetic-benchmark leaves (*_synth-*.py; their
# base schedule, 1 x 4 images for 300 iterations, is sized for a 2-core CPU) on one GPU: 16 images per iteration,
# 3000 iterations (10x the CPU schedule), mixed precision. With 16 images lr 0.02 is the paper's own lr-to-batch
# ratio (Sec. 5.1); gradients stay clipped (from-scratch R18, schedule_synth_cpu.py).
#   tspsis train configs/mask_rcnn_ts/ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py \
#       --mixin configs/_base_/schedules/synth-gpu_1xb16-3000it.py --work-dir ...
# A mixin is merged over a finished config (not listed in a _base_); it lists only what it changes.
max_iters = 3000
warmup_iters = 200

train_dataloader = dict(batch_size=16, num_workers=8)  # 1 GPU x 16 images: the paper's batch
train_cfg = dict(max_iters=max_iters, val_interval=1000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[max_iters * 8 // 12, max_iters * 11 // 12], gamma=0.1),
]
optim_wrapper = dict(type='AmpOptimWrapper', optimizer=dict(lr=0.02))  # fp16 autocast + dynamic loss scaling

default_hooks = dict(checkpoint=dict(interval=500))
