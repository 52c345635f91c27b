# Box-conditioned track (tspsis.plugin.roi_heads.box_conditioned; Deep-MAC's protocol): a mixin over any two-stage model of
# this repository. The RoIs of every head are the ground-truth boxes, in training and at test; nothing else of the
# method changes (heads, losses, has_mask rule, teacher/student targets, cleaning).
model = dict(
    rpn_head=dict(_delete_=True, type='GroundTruthProposals',
                  jitter=0.0),  # training RoIs = the exact GT boxes (> 0: corners moved like proposals)
    # every given box is a positive RoI, used once per iteration (no sampling, no negatives)
    train_cfg=dict(rcnn=dict(sampler=dict(_delete_=True, type='PseudoSampler'))),
    # test: detections = the GT boxes and labels; score = the mask's mean foreground probability
    test_cfg=dict(rcnn=dict(given_boxes=True)))
# mean mask IoU per overlap bin beside AP: a number that does not depend on the scores
test_evaluator = dict(mask_iou=True)
# how good the pseudo masks are along training: their IoU with the unseen ground truth of the full annotation file,
# read outside the data pipeline and never fed back (tspsis.plugin.hooks.pseudo_mask_monitor); no-op for heads without pseudo masks.
# This list replaces the leaf's: it repeats the teacher-student configs' TeacherCoverageHook
# (configs/_base_/models/teacher_student_options.py; no-op for heads without a teacher)
custom_hooks = [dict(type='PseudoMaskMonitorHook', interval=25, ann_file='annotations/train.json'),
                dict(type='TeacherCoverageHook', window=100, threshold=0.5)]
