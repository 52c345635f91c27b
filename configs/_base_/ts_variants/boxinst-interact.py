# MIXIN (variant of "BoxInst + ours"): r(Mt) = (Mt + Ms) / 2 >= 0.5 (Sec. 4.2, item 3; Table 5): the pseudo mask
# averages the teacher's and the student's own (class-l) probabilities. The RoI-head configs' version: interact.py.
model = dict(mask_head=dict(pseudo_labeler=dict(
    post_process=dict(type='interact'))))  # r(Mt) = (Mt + Ms) / 2 >= 0.5
