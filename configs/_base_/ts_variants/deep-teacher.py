# MIXIN (variant of "+ ours", Mask R-CNN / OPMask RoI heads): deeper teacher (Sec. 5.4, Table 3): Ft has 12
# convolutions instead of 4; r(Mt) = Mt >= 0.5.
model = dict(roi_head=dict(teacher_head=dict(num_convs=12)))  # Ft: 12 3x3 convs
