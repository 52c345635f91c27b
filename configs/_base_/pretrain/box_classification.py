# MIXIN (merged last, over the class-agnostic baseline of a profile's track and sizing): the shared pre-training,
# the analogue of the paper's ImageNet-initialised R50 (Sec. 5.1). Backbone + FPN + box head learn to classify
# the boxes of every category — in the partially supervised setting every category has boxes and labels — and no
# mask is read or learned: no mask head, annotations loaded without masks. Every row of the profile then starts
# from these weights (`tspsis pretrain`; tspsis.lab.pretrain: model.init_cfg = Pretrained); the mask heads,
# absent here, start from their own initialisation.
_base_ = './detection.py'  # no mask head, annotations without masks
# nothing to score: the weights are the product (tspsis.engine.runner trains a config without test_evaluator and skips the
# test pass; metrics.json then holds the run's timing only)
val_dataloader, val_cfg, val_evaluator = None, None, None
test_evaluator = None
