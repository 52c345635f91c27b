# Oracle for nonvoc -> voc (paper Table 1, "Oracle"): trained on the full annotations/train.json with every
# mask, scored like synth_nonvoc2voc.py (same split manifest, unseen = voc-like categories).
_base_ = './synth_partial_instance.py'

manifest_file = 'annotations/train_nonvoc.manifest.json'

val_evaluator = dict(manifest=_base_.data_root + manifest_file)
test_evaluator = val_evaluator
