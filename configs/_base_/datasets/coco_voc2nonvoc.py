# voc -> nonvoc on COCO (paper Table 1): masks only for the 20 voc categories (seen), the 60 nonvoc categories are
# box-only in training and scored as unseen. Files from `tspsis split --seen voc`.
_base_ = './coco_partial_instance.py'

train_ann_file = 'annotations/instances_train2017_voc.json'
manifest_file = 'annotations/instances_train2017_voc.manifest.json'

train_dataloader = dict(dataset=dict(ann_file=train_ann_file))
val_evaluator = dict(manifest=_base_.data_root + manifest_file)
test_evaluator = val_evaluator
