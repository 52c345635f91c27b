# Teacher-student mask heads (Sec. 4, 4.3) on OPMask R50-FPN ("OPMask + ours", Table 1): OPMask's losses are
# unchanged, the student's segmentation loss is added (Eq. 7). Options: teacher_student_options.py,
# tspsis.models.opmask.
_base_ = ['./opmask_r50_fpn.py', './teacher_student_options.py']

model = dict(roi_head=dict(
    type='TeacherStudentOPMaskRoIHead',    # both mask heads take the mask RoI features + OPMask's CAM prior
    mask_head=dict(class_agnostic=False),  # the student Fs (Eq. 2): OPMask's mask head with C channels
    **_base_.teacher_student))             # Ft: OPMask's class-agnostic mask head (Fs with one channel)
