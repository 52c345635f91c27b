# Deeper teacher (Sec. 5.4, Table 3): Ft has 12 convolutions instead of 4; r(Mt) = Mt >= 0.5.
# Paper, Table 3: 29.4 mask AP on the unseen categories.
_base_ = './ts-mask-rcnn_r50_fpn_1x_coco-nonvoc2voc_thr.py'

model = dict(roi_head=dict(teacher_head=dict(num_convs=12)))  # Ft: 12 3x3 convs
