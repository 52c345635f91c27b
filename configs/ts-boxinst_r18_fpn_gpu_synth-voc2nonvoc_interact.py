# r(Mt) = (Mt + Ms) / 2 >= 0.5 (Sec. 4.2, item 3; Table 5): the pseudo mask averages the teacher's and the student's
# own (class-l) probabilities.
_base_ = './ts-boxinst_r18_fpn_gpu_synth-voc2nonvoc_thr.py'

model = dict(mask_head=dict(pseudo_mask=dict(type='interact')))  # r(Mt) = (Mt + Ms) / 2 >= 0.5
