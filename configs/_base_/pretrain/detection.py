# MIXIN (merged last, over the class-agnostic baseline of the detector track and its sizing): the shared pre-trained
# detector, the detector track's analogue of the paper's ImageNet-initialised R50 + its detector schedule. Backbone +
# FPN + RPN + box head learn to detect the boxes of every category — in the partially supervised setting every
# category has boxes and labels — and no mask is read or learned: no mask head, annotations loaded without masks.
# Every row of the track then trains jointly from these weights. (The box-conditioned track's pre-training,
# ./box_classification.py, is this model and data without a test pass.)
model = dict(roi_head=dict(mask_roi_extractor=None, mask_head=None))  # the box head alone
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='CachedTransforms', transforms=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadPartialAnnotations', with_bbox=True, with_mask=False),  # boxes and labels only
        dict(type='Resize', scale_factor=1.0, keep_ratio=True)]),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPartialDetInputs')]))
# its box AP on the val images (all / seen / unseen categories) is kept in the run's metrics.json
# (merged over the data set's test_evaluator: its annotation file and manifest stay)
test_evaluator = dict(metric=['bbox'], overlap_bins=False, fp_attribution=False)
