# The paper's 1x schedule (Sec. 5.1): SGD, momentum 0.9, weight decay 1e-4, lr 0.02 for a batch of 16 images
# (8 GPUs x 2), 12 epochs, lr x 0.1 after epochs 8 and 11, linear warm-up over the first 500 iterations.
_base_ = '../default_runtime.py'

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),  # 500 warm-up iterations
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001))

# lr 0.02 belongs to a batch of 16; `--auto-scale-lr` rescales it for another GPU count.
auto_scale_lr = dict(enable=False, base_batch_size=16)
