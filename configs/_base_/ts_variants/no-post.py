# MIXIN (variant of "+ ours", Mask R-CNN / OPMask RoI heads): teacher-student without post-processing (Table 4,
# second row): the student learns the teacher's probabilities Mt as soft targets — no r(.), no cleaning.
model = dict(roi_head=dict(pseudo_labeler=dict(
    post_process=dict(_delete_=True, type='none'),  # G_l = Mt instead of r(Mt) (Eq. 4); no thr to inherit
    clean=False)))                                  # no background marking of seen masks / outside the box (Sec. 5.1)
