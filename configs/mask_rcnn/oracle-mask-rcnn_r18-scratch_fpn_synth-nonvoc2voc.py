# Oracle, synthetic benchmark, nonvoc -> voc: the voc2nonvoc config next to this one with the other split: trained
# with every mask as there, scored with the 6 voc-like categories as unseen.
_base_ = './oracle-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py'

manifest_file = 'annotations/train_nonvoc.manifest.json'
val_evaluator = dict(manifest=_base_.data_root + manifest_file)
test_evaluator = val_evaluator
