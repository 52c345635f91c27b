# MIXIN (merged last, over the class-agnostic baseline of the detector track and its sizing): the shared pre-trained
# detector, the detector track's analogue of the paper's ImageNet-initialised R50 + its detector schedule. Backbone +
# FPN + RPN + box head learn to detect the boxes of every category — in the partially supervised setting every
# category has boxes and labels — and no mask is read or learned (./without_masks.py: no mask head,
# annotations loaded without masks). Every row of the track then trains jointly from these weights.
_base_ = './without_masks.py'
# its box AP on the val images (all / seen / unseen categories) is kept in the run's metrics.json
# (merged over the data set's test_evaluator: its annotation file and manifest stay)
test_evaluator = dict(metric=['bbox'], overlap_bins=False, fp_attribution=False)
