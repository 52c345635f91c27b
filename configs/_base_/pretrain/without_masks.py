# The shared pre-trainings' model and data (./box_classification.py, ./detection.py): no mask head, annotations
# loaded without masks — the boxes and labels of every category only.
model = dict(roi_head=dict(mask_roi_extractor=None, mask_head=None))  # the box head alone
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='CachedTransforms', transforms=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadPartialAnnotations', with_bbox=True, with_mask=False),  # boxes and labels only
        dict(type='Resize', scale_factor=1.0, keep_ratio=True)]),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPartialDetInputs')]))
