# BoxInst, synthetic benchmark, nonvoc -> voc: the voc2nonvoc config next to this one with the other split: masks for
# the 18 nonvoc-like categories only (`tspsis split --seen nonvoc`), the 6 voc-like categories box-only and scored as
# unseen.
_base_ = './psis-boxinst_r18-scratch_fpn_synth-voc2nonvoc.py'

train_ann_file = 'annotations/train_nonvoc.json'
manifest_file = 'annotations/train_nonvoc.manifest.json'
train_dataloader = dict(dataset=dict(ann_file=train_ann_file))
val_evaluator = dict(manifest=_base_.data_root + manifest_file)
test_evaluator = val_evaluator
