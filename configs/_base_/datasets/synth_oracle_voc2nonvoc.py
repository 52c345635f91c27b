# Oracle for voc -> nonvoc (paper Table 1, "Oracle"): trained on the full annotations/train.json with every
# mask, scored like synth_voc2nonvoc.py (same split manifest, unseen = nonvoc-like categories).
_base_ = './synth_partial_instance.py'

manifest_file = 'annotations/train_voc.manifest.json'

val_evaluator = dict(manifest=_base_.data_root + manifest_file)
test_evaluator = val_evaluator
