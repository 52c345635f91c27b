# The teacher-student options of Sec. 4, shared by every "+ ours" RoI head built on Mask R-CNN's (Mask R-CNN and
# OPMask, R18 and R50): a model config lists this file in its _base_ and merges the options into its RoI head,
#   model = dict(roi_head=dict(type='TeacherStudentRoIHead', **_base_.teacher_student))
# Options: tspsis.models.roi_heads.TeacherStudentRoIHead.
teacher_student = dict(
    # mask_head (inherited, class-specific, C channels) is the student Fs (Eq. 2).
    teacher_head=dict(),                      # Ft (Eq. 2): Fs's architecture with one class-agnostic channel
    pseudo_mask=dict(type='threshold', thr=0.5),  # r in Eq. 4/6: r(Mt) = Mt >= 0.5
    student_loss='label_channel',             # L_segS on channel l only (Mask R-CNN); 'all_channels': G of Eq. 3
    clean_pseudo=True,                        # r(Mt) is background in seen GT masks and outside the box (Sec. 5.1)
    pseudo_warmup_iters=0,                    # unseen objects train Fs from the start (not in the paper)
    pseudo_weighting='none',                  # 'confidence': L_segS of r(Mt) x mean |2 Mt - 1| (not in the paper)
    test_mask_head='student')                 # only Fs predicts at test time (Sec. 4.3)
