# BoxInst's own schedule (mmdet configs/common/ms-90k_coco.py with configs/boxinst's lr 0.01), kept because the paper
# keeps the baselines' settings (Sec. 4.3): 90k iterations of 16 images (12.2 COCO epochs, BoxInst's "1x"), SGD
# (momentum 0.9, weight decay 1e-4), lr 0.01, x 0.1 at 60k and 80k, linear warm-up over 1000 iterations.
# `ms_train_pipeline` is BoxInst's multi-scale training (shorter side 640..800, resize and flip only, so gt_has_mask
# stays aligned); experiment configs use it:
#   train_dataloader = dict(dataset=dict(pipeline=_base_.ms_train_pipeline))
_base_ = '../default_runtime.py'

max_iters = 90000

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[60000, 80000], gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))

# lr 0.01 belongs to a batch of 16 (8 GPUs x 2); `--auto-scale-lr` rescales it for another GPU count.
auto_scale_lr = dict(enable=False, base_batch_size=16)

default_hooks = dict(checkpoint=dict(by_epoch=False, interval=10000))
log_processor = dict(by_epoch=False)

ms_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPartialAnnotations', with_bbox=True, with_mask=True),  # box-only -> empty mask, has_mask
    dict(type='RandomChoiceResize',
         scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768), (1333, 800)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPartialDetInputs'),  # gt_instances.has_mask (BoolTensor (N,))
]
