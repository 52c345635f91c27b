# Mask R-CNN + ours ("Mask R-CNN + ours", Table 1): teacher-student mask heads (Sec. 4) with r(Mt) = Mt >= 0.5 on
# Mask R-CNN R50-FPN, COCO voc -> nonvoc: masks for the 20 voc categories only; the 60 nonvoc categories are
# box-only and scored as unseen. Options (teacher, r, cleaning, student loss, test head): teacher_student_options.py;
# the variants of Tables 3-5 are mixins in ../_base_/ts_variants/ (crf, interact, no-post, deep-teacher, hr-teacher).
# Paper, Table 1: 21.6 mask AP on the unseen categories.
_base_ = ['../_base_/models/mask-rcnn_r50_fpn_paper.py', '../_base_/models/teacher_student_options.py',
          '../_base_/datasets/coco_voc2nonvoc.py', '../_base_/schedules/schedule_1x.py']

model = dict(roi_head=dict(
    type='TeacherStudentRoIHead',  # loss Eq. 7: L_cls + L_loc + L_segT + L_segS, equal weights
    **_base_.teacher_student))
