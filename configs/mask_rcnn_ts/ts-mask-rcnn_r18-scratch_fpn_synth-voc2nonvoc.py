# Mask R-CNN + ours ("Mask R-CNN + ours", Table 1): teacher-student mask heads (Sec. 4) with r(Mt) = Mt >= 0.5 on
# the synthetic benchmark, voc -> nonvoc (masks for the 6 voc-like categories only; the 18 others are box-only and
# scored as unseen); R18 from scratch, sized for a 2-core CPU (one GPU: mixin ../_base_/schedules/synth-gpu_1xb16-3000it.py).
# Options: teacher_student_options.py; the variants of Tables 3-5 are mixins in ../_base_/ts_variants/.
_base_ = ['../_base_/models/mask-rcnn_r18-scratch_fpn.py', '../_base_/models/teacher_student_options.py',
          '../_base_/datasets/synth_voc2nonvoc.py', '../_base_/schedules/schedule_synth_cpu.py']

model = dict(roi_head=dict(
    type='TeacherStudentRoIHead',  # loss Eq. 7: L_cls + L_loc + L_segT + L_segS, equal weights
    **_base_.teacher_student))
