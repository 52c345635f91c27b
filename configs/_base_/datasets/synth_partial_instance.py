# Synthetic benchmark (tspsis.core.synth), COCO layout (README, "Your own data"): common part of the synth_* dataset
# configs. This file trains on the full annotations/train.json (all masks); the split configs replace the
# training file and set the evaluator's manifest (seen / unseen category ids).
#
# The variables below are read when this file is parsed. A child that sets `data_root = 'data/synth/full/'` alone
# is enough with tspsis (tspsis.engine.config.load_config moves every path built from the old root, evaluators included),
# as is `tspsis train --data-root`; another variable changed in a child must be followed by the fields built
# from it.
dataset_type = 'PartialCocoDataset'  # tspsis.plugin.datasets.partial_coco: box-only instances + per-instance has_mask
data_root = 'data/synth/demo/'
# Images are generated at their profile's size (tiny 128, demo 160, full 256 px) and trained at that size:
# Resize with scale_factor=1 only records the scale factor that packing and rescaling read.
no_resize = dict(type='Resize', scale_factor=1.0, keep_ratio=True)
batch_size = 4          # images per GPU / CPU process
num_workers = 2
train_ann_file = 'annotations/train.json'
val_ann_file = 'annotations/val.json'
backend_args = None

# Only transforms that keep gt_has_mask aligned (see tspsis.plugin.transforms.loading): no FilterAnnotations / crops.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPartialAnnotations', with_bbox=True, with_mask=True),  # box-only -> empty mask, has_mask
    no_resize,
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPartialDetInputs'),  # gt_instances.has_mask (BoolTensor (N,))
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),  # before Resize, which scales the boxes (the box-conditioned
    # track's given boxes); the evaluator reads the masks from val_ann_file itself
    no_resize,
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=num_workers,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=train_ann_file,
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=num_workers,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=val_ann_file,
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# Scored on the full validation file; the manifest (set by the split configs) says which categories are
# unseen, so AP is reported for unseen, seen and all categories separately (tspsis.plugin.metrics.partial_coco_metric).
val_evaluator = dict(
    type='PartialCocoMetric',
    ann_file=data_root + val_ann_file,
    metric=['bbox', 'segm'],
    backend='faster_coco_eval',  # same AP as pycocotools within 1e-3 (tests/eval/test_evaluate.py), ~3x faster
    backend_args=backend_args)
# the test pass also scores overlap bins (Fig. 2, Table 2) and attributes false-positive pixels (Fig. 3); the
# validations during training skip them (they decode every mask)
test_evaluator = dict(val_evaluator, overlap_bins=True, fp_attribution=True)
