# COCO 2017 instance segmentation with mmdet's standard 1333x800 pipelines and the partial-annotation
# transforms: common part of the coco_* dataset configs. This file trains on the full
# annotations/instances_train2017.json; the split configs replace the training file and set the
# evaluator's manifest. A child may set `data_root` alone (tspsis.engine.config.load_config moves every path built
# from it); another variable changed in a child must be followed by the fields built from it.
dataset_type = 'PartialCocoDataset'  # tspsis.plugin.datasets.partial_coco: box-only instances + per-instance has_mask
data_root = 'data/coco/'
img_scale = (1333, 800)
batch_size = 2  # per GPU: 8 GPUs x 2 = the paper's batch of 16 (Sec. 5.1)
num_workers = 2
train_ann_file = 'annotations/instances_train2017.json'
val_ann_file = 'annotations/instances_val2017.json'
backend_args = None

# Only transforms that keep gt_has_mask aligned (see tspsis.plugin.transforms.loading): no FilterAnnotations / crops.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPartialAnnotations', with_bbox=True, with_mask=True),  # box-only -> empty mask, has_mask
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPartialDetInputs'),  # gt_instances.has_mask (BoolTensor (N,))
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),  # before Resize, which scales the boxes (the box-conditioned
    # track's given boxes); the evaluator reads the masks from val_ann_file itself
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=train_ann_file,
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=num_workers,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=val_ann_file,
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# Scored on the full val2017 file; the manifest (set by the split configs) says which categories are unseen,
# so AP is reported for unseen, seen and all categories separately (tspsis.plugin.metrics.partial_coco_metric).
val_evaluator = dict(
    type='PartialCocoMetric',
    ann_file=data_root + val_ann_file,
    metric=['bbox', 'segm'],
    backend='faster_coco_eval',  # same AP as pycocotools within 1e-3 (tests/eval/test_evaluate.py), ~3x faster
    backend_args=backend_args)
# the test pass also scores overlap bins (Fig. 2, Table 2) and attributes false-positive pixels (Fig. 3); the
# validations during training skip them (they decode every mask)
test_evaluator = dict(val_evaluator, overlap_bins=True, fp_attribution=True)
