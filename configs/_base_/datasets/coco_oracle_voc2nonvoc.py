# Oracle for voc -> nonvoc on COCO (paper Table 1, "Oracle"): trained on the full instances_train2017.json with
# every mask, scored like coco_voc2nonvoc.py (same split manifest, unseen = the 60 nonvoc categories).
_base_ = './coco_partial_instance.py'

manifest_file = 'annotations/instances_train2017_voc.manifest.json'

val_evaluator = dict(manifest=_base_.data_root + manifest_file)
test_evaluator = val_evaluator
