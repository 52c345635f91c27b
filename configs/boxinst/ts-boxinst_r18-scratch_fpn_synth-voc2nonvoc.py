# BoxInst + ours ("BoxInst + ours", Table 1): the partially supervised BoxInst config next to this one with
# teacher-student mask heads (Sec. 4), r(Mt) = Mt >= 0.5. The teacher Ft is BoxInst's class-agnostic dynamic mask
# head; the student Fs is a dynamic head with C output channels whose weights come from a second controller. The one
# added loss is loss_mask_student (Sec. 4.3). Variants of Table 5 (mixins): ../_base_/ts_variants/boxinst-crf.py,
# boxinst-interact.py. Options: tspsis.plugin.dense_heads.boxinst.TeacherStudentBoxInstMaskHead.
_base_ = ['./psis-boxinst_r18-scratch_fpn_synth-voc2nonvoc.py',
          '../_base_/models/teacher_student_options.py']

model = dict(
    bbox_head=dict(
        type='TeacherStudentBoxInstBboxHead',
        # Fs's dynamic weights per object: Ft's hidden layers (576) + C output channels x (16 weights + 1 bias)
        student_num_params=576 + 17 * _base_.num_classes),
    mask_head=dict(
        type='TeacherStudentBoxInstMaskHead',
        num_classes=_base_.num_classes,        # Fs: C channels, channel l for an object of class l (Eq. 3)
        pseudo_labeler=_base_.pseudo_labeler,  # r (Eq. 4/6), cleaning: teacher_student_options.py
        crf_roi_size=28,                       # grid on the object's box where r = CRF runs (Table 5)
        # L_segS (Eq. 6): BoxInst's mask loss (dice) on Fs's channel l
        loss_mask_student=dict(type='DiceLoss', use_sigmoid=True, activate=True, eps=5e-6, loss_weight=1.0),
        test_mask_head='student'))             # only Fs predicts at test time (Sec. 4.3)
