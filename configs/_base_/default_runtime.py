# Runtime settings shared by every tspsis experiment: mmdet's default_runtime plus the plugin import, a small
# log interval (the synthetic epochs are short) and a bounded number of kept checkpoints, written so that a kill
# never leaves a half-written one (tspsis.plugin.hooks.atomic_checkpoint.AtomicCheckpointHook, mmengine's CheckpointHook made crash-safe).
default_scope = 'mmdet'
custom_imports = dict(imports=['tspsis.plugin'], allow_failed_imports=False)  # registers the tspsis modules

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3),  # keep the last 3 epochs
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False
