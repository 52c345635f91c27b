# MIXIN (merged last, over the class-agnostic baseline of a profile's track and sizing): the shared pre-training,
# the analogue of the paper's ImageNet-initialised R50 (Sec. 5.1). Backbone + FPN + box head learn to classify
# the boxes of every category — in the partially supervised setting every category has boxes and labels — and no
# mask is read or learned: no mask head, annotations loaded without masks. Every row of the profile then starts
# from these weights (`tspsis pretrain`; tspsis.lab.pretrain: model.init_cfg = Pretrained); the mask heads,
# absent here, start from their own initialisation.
model = dict(roi_head=dict(mask_roi_extractor=None, mask_head=None))  # the box head alone
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='CachedTransforms', transforms=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadPartialAnnotations', with_bbox=True, with_mask=False),  # boxes and labels only
        dict(type='Resize', scale_factor=1.0, keep_ratio=True)]),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPartialDetInputs')]))
# nothing to score: the weights are the product (tspsis.engine.runner trains a config without test_evaluator and skips the
# test pass; metrics.json then holds the run's timing only)
val_dataloader, val_cfg, val_evaluator = None, None, None
test_evaluator = None
