# Oracle ("Oracle", Table 1): class-specific Mask R-CNN R50-FPN trained with the masks of all 80 COCO categories
# (the full instances_train2017.json), scored on the unseen categories of voc -> nonvoc.
# Paper, Table 1: 37.5 mask AP on the unseen categories.
_base_ = ['../_base_/models/mask-rcnn_r50_fpn_paper.py', '../_base_/datasets/coco_partial_instance.py',
          '../_base_/schedules/schedule_1x.py']

manifest_file = 'annotations/instances_train2017_voc.manifest.json'  # unseen = the 60 nonvoc categories
val_evaluator = dict(manifest=_base_.data_root + manifest_file)
test_evaluator = val_evaluator
# One class-specific mask head trained on every mask (PartialRoIHead with every instance mask-annotated trains as
# mmdet's StandardRoIHead); unlike the stock head it also predicts the given boxes of the box-conditioned track.
model = dict(roi_head=dict(type='PartialRoIHead', fully_supervised=True))
