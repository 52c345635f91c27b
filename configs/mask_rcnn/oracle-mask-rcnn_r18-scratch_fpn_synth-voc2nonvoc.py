# Oracle ("Oracle", Table 1) on the synthetic benchmark: class-specific Mask R-CNN trained with the masks of all 24
# categories (the full annotations/train.json), scored on the unseen categories of voc -> nonvoc; R18 from
# scratch, sized for a 2-core CPU (one GPU: mixin ../_base_/schedules/synth-gpu_1xb16-3000it.py).
_base_ = ['../_base_/models/mask-rcnn_r18-scratch_fpn.py', '../_base_/datasets/synth_partial_instance.py',
          '../_base_/schedules/schedule_synth_cpu.py']

manifest_file = 'annotations/train_voc.manifest.json'  # unseen = the 18 nonvoc-like categories
val_evaluator = dict(manifest=_base_.data_root + manifest_file)
test_evaluator = val_evaluator
# One class-specific mask head trained on every mask (PartialRoIHead with every instance mask-annotated trains as
# mmdet's StandardRoIHead); unlike the stock head it also predicts the given boxes of the box-conditioned track.
model = dict(roi_head=dict(type='PartialRoIHead', fully_supervised=True))
