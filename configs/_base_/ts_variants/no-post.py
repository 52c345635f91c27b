# MIXIN (variant of "+ ours", Mask R-CNN / OPMask RoI heads): teacher-student without post-processing (Table 4,
# second row): the student learns the teacher's probabilities Mt as soft targets — no r(.), no cleaning.
model = dict(roi_head=dict(pseudo_labeler=dict(
    post_process=dict(type='none'),  # G_l = Mt instead of r(Mt) (Eq. 4)
    clean=False)))                   # no background marking of seen masks / outside the box (Sec. 5.1)
