# Teacher-student mask heads (Sec. 4) on the CPU-sized Mask R-CNN; options: teacher_student_options.py.
_base_ = ['./mask-rcnn_r18_fpn_scratch.py', './teacher_student_options.py']

model = dict(roi_head=dict(
    type='TeacherStudentRoIHead',  # loss Eq. 7: L_cls + L_loc + L_segT + L_segS, equal weights
    **_base_.teacher_student))
