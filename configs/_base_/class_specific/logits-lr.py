# MIXIN (every class-specific mask head trained here: the Oracle, the student Fs of "+ ours" and its variants,
# OPMask + ours): the C-channel logit layer learns at C times the base learning rate. A departure from mmdet's
# stock head, for a reason of optimisation, not of method: with the mask loss averaged over all RoIs, each of the
# C = 24 class channels receives only the gradient of its own class's RoIs (~1/C of the total), while the single
# channel of a class-agnostic head (the baseline, the teacher Ft) receives all of it; scaling that layer's rate by
# C gives every class channel the pace of the class-agnostic one. Chosen on held-out data (README, "How the demo's
# schedule and options were chosen"). Keys match parameter names: roi_head.mask_head is Fs (Ft is teacher_head).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'roi_head.mask_head.conv_logits': dict(lr_mult=24.0)}))
