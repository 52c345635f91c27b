# MIXIN (variant of "+ ours", Mask R-CNN / OPMask RoI heads): r(Mt) = (Mt + Ms) / 2 >= 0.5 (Sec. 4.2, item 3;
# Table 5): the pseudo mask averages the teacher's and the student's own (class-l) probabilities.
# BoxInst + ours: boxinst-interact.py.
model = dict(roi_head=dict(pseudo_labeler=dict(
    post_process=dict(type='interact'))))  # r(Mt) = (Mt + Ms) / 2 >= 0.5
