# Oracle, COCO, nonvoc -> voc: the voc2nonvoc config next to this one with the other split: trained with every mask as
# there, scored with the 20 voc categories as unseen. Paper, Table 1: 33.0 mask AP on the unseen categories.
_base_ = './oracle-mask-rcnn_r50_fpn_coco-voc2nonvoc.py'

manifest_file = 'annotations/instances_train2017_nonvoc.manifest.json'
val_evaluator = dict(manifest=_base_.data_root + manifest_file)
test_evaluator = val_evaluator
