# MIXIN (variant of "+ ours", Mask R-CNN / OPMask RoI heads): high-resolution teacher (Sec. 5.4, Table 3): Ft
# outputs 56x56 masks (4x deconvolution of the 14x14 RoI features) and learns from 56x56 targets; for the student's
# 28x28 pseudo masks Mt is area-averaged to 28x28 before r(Mt) = Mt >= 0.5.
model = dict(roi_head=dict(
    teacher_head=dict(upsample_cfg=dict(type='deconv', scale_factor=4))))  # Ft: 14x14 -> 56x56
