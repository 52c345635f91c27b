# BoxInst + ours, COCO, nonvoc -> voc: the voc2nonvoc config next to this one with the other split: masks for the 60
# nonvoc categories only (`tspsis split --seen nonvoc`), the 20 voc categories box-only and scored as unseen. Paper,
# Table 1: 34.4 mask AP on the unseen categories.
_base_ = './ts-boxinst_r50_fpn_coco-voc2nonvoc.py'

train_ann_file = 'annotations/instances_train2017_nonvoc.json'
manifest_file = 'annotations/instances_train2017_nonvoc.manifest.json'
train_dataloader = dict(dataset=dict(ann_file=train_ann_file))
val_evaluator = dict(manifest=_base_.data_root + manifest_file)
test_evaluator = val_evaluator
