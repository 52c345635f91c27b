# Teacher-student mask heads (Sec. 4) on partially supervised BoxInst ("BoxInst + ours", Table 1), R50-FPN.
# The teacher Ft is BoxInst's class-agnostic dynamic mask head, trained as in psis-boxinst_r50_fpn.py; the student Fs
# is a dynamic head with C output channels whose weights come from a second controller. The one added loss is
# loss_mask_student (Sec. 4.3). Options: tspsis.models.boxinst.TeacherStudentBoxInstMaskHead.
_base_ = './psis-boxinst_r50_fpn.py'

num_classes = 80  # C (Eq. 2)

model = dict(
    bbox_head=dict(
        type='TeacherStudentBoxInstBboxHead',
        # Fs's dynamic weights per object: Ft's hidden layers (576) + C output channels x (16 weights + 1 bias)
        student_num_params=576 + 17 * num_classes),
    mask_head=dict(
        type='TeacherStudentBoxInstMaskHead',
        num_classes=num_classes,                  # Fs: C channels, channel l for an object of class l (Eq. 3)
        pseudo_mask=dict(type='threshold', thr=0.5),  # r in Eq. 4/6: r(Mt) = Mt >= 0.5
        crf_roi_size=28,                          # grid on the object's box where r = CRF runs (Table 5)
        clean_pseudo=True,                        # r(Mt) is background in seen GT masks and outside the box (Sec. 5.1)
        # L_segS (Eq. 6): BoxInst's mask loss (dice) on Fs's channel l
        loss_mask_student=dict(type='DiceLoss', use_sigmoid=True, activate=True, eps=5e-6, loss_weight=1.0),
        test_mask_head='student'))                # only Fs predicts at test time (Sec. 4.3)
