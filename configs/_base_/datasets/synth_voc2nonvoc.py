# voc -> nonvoc on the synthetic benchmark: masks only for the 6 voc-like categories (seen), the 18 others
# are box-only in training and scored as unseen. Files from `tspsis split --seen voc`.
_base_ = './synth_partial_instance.py'

train_ann_file = 'annotations/train_voc.json'
manifest_file = 'annotations/train_voc.manifest.json'

train_dataloader = dict(dataset=dict(ann_file=train_ann_file))
val_evaluator = dict(manifest=_base_.data_root + manifest_file)
test_evaluator = val_evaluator
