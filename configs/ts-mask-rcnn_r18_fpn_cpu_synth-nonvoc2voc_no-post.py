# Teacher-student without post-processing (Table 4, second row): the student learns the teacher's probabilities
# Mt as soft targets — no r(.), no cleaning.
_base_ = './ts-mask-rcnn_r18_fpn_cpu_synth-nonvoc2voc_thr.py'

model = dict(roi_head=dict(
    pseudo_mask=dict(type='none'),   # G_l = Mt instead of r(Mt) (Eq. 4)
    clean_pseudo=False))             # no background marking of seen masks / outside the box (Sec. 5.1)
