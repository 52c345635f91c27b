# The teacher-student options of Sec. 4, set once for every "+ ours" config. A config lists this file in its _base_
# and merges the options into its head:
#   Mask R-CNN, OPMask:  model = dict(roi_head=dict(type='TeacherStudentRoIHead', **_base_.teacher_student))
#   BoxInst:             model = dict(mask_head=dict(type='TeacherStudentBoxInstMaskHead',
#                                                    pseudo_labeler=_base_.pseudo_labeler, ...))
# The variants of Tables 3-5 change these options as mixins: configs/_base_/ts_variants/.
# Options: tspsis.plugin.roi_heads.teacher_student.TeacherStudentRoIHead, tspsis.plugin.dense_heads.boxinst.TeacherStudentBoxInstMaskHead.

# How the teacher's masks Mt become the student's targets on unseen objects (Eq. 4/6).
pseudo_labeler = dict(
    type='PseudoLabeler',
    post_process=dict(type='threshold', thr=0.5),  # r in Eq. 4/6: r(Mt) = Mt >= 0.5; 'crf', 'interact', 'none'
    clean=True,                # r(Mt) is background in seen GT masks and outside the box (Sec. 5.1)
    warmup_iters=0,            # unseen objects train Fs from the start (not in the paper)
    weighting='none')          # 'confidence': L_segS of r(Mt) x mean |2 Mt - 1| (not in the paper)

teacher_student = dict(
    # mask_head (inherited, class-specific, C channels) is the student Fs (Eq. 2).
    teacher_head=dict(),                # Ft (Eq. 2): Fs's architecture with one class-agnostic channel
    pseudo_labeler=pseudo_labeler,
    student_loss='label_channel',       # L_segS on channel l only (Mask R-CNN); 'all_channels': G of Eq. 3
    test_mask_head='student')           # only Fs predicts at test time (Sec. 4.3)

# At the end of training: warn when the teacher's masks inside unseen-category boxes are nearly empty next to the seen
# ones (the seen set does not cover the unseen categories' shapes / appearances), from boxes and Mt only; records the
# ratio in metrics.json's `training` block (tspsis.plugin.hooks.teacher_coverage)
custom_hooks = [dict(type='TeacherCoverageHook', window=100, threshold=0.5)]
