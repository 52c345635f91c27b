# OPMask + ours ("OPMask + ours", Table 1): the OPMask config next to this one with teacher-student mask heads
# (Sec. 4, 4.3), r(Mt) = Mt >= 0.5. OPMask's losses are unchanged; the student's segmentation loss is added (Eq. 7).
# Options: ../_base_/models/teacher_student_options.py, tspsis.plugin.roi_heads.opmask.
# Paper, Table 1: 30.9 mask AP on the unseen categories.
_base_ = ['./opmask_r50_fpn_coco-voc2nonvoc.py', '../_base_/models/teacher_student_options.py']

model = dict(roi_head=dict(
    type='TeacherStudentOPMaskRoIHead',    # both mask heads take the mask RoI features + OPMask's CAM prior
    mask_head=dict(class_agnostic=False),  # the student Fs (Eq. 2): OPMask's mask head with C channels
    **_base_.teacher_student))             # Ft: OPMask's class-agnostic mask head (Fs with one channel)
