# Teacher-student mask heads (Sec. 4, 4.3) on OPMask R50-FPN ("OPMask + ours", Table 1):
# OPMask's losses are unchanged, the student's segmentation loss is added (Eq. 7).
# Options: tspsis.models.opmask.TeacherStudentOPMaskRoIHead, tspsis.models.roi_heads.TeacherStudentRoIHead.
_base_ = './opmask_r50_fpn.py'

model = dict(roi_head=dict(
    type='TeacherStudentOPMaskRoIHead',  # both mask heads take the mask RoI features + OPMask's CAM prior
    mask_head=dict(class_agnostic=False),  # the student Fs (Eq. 2): OPMask's mask head with C channels
    teacher_head=dict(),                   # Ft (Eq. 2): OPMask's class-agnostic mask head (Fs with one channel)
    pseudo_mask=dict(type='threshold', thr=0.5),  # r in Eq. 4/6: r(Mt) = Mt >= 0.5
    student_loss='label_channel',          # L_segS on channel l only (Mask R-CNN); 'all_channels': G of Eq. 3
    clean_pseudo=True,                     # r(Mt) is background in seen GT masks and outside the box (Sec. 5.1)
    pseudo_warmup_iters=0,                 # unseen objects train Fs from the start (not in the paper)
    pseudo_weighting='none',               # 'confidence': L_segS of r(Mt) x mean |2 Mt - 1| (not in the paper)
    test_mask_head='student'))             # only Fs predicts at test time (Sec. 4.3)
