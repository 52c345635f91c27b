# Deeper teacher (Sec. 5.4, Table 3): Ft has 12 convolutions instead of 4; r(Mt) = Mt >= 0.5.
_base_ = './ts-mask-rcnn_r18_fpn_gpu_synth-nonvoc2voc_thr.py'

model = dict(roi_head=dict(teacher_head=dict(num_convs=12)))  # Ft: 12 3x3 convs
