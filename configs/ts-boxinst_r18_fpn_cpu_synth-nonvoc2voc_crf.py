# r(Mt) = CRF(Mt) >= 0.5 (Sec. 4.2, item 2; Table 5): a dense CRF over the image on the object's box refines the
# teacher's prediction before thresholding (PartialBoxInstDataPreprocessor keeps the images).
_base_ = './ts-boxinst_r18_fpn_cpu_synth-nonvoc2voc_thr.py'

model = dict(mask_head=dict(pseudo_mask=dict(type='crf', crf_backend='torch')))  # r: CRF(Mt) >= 0.5, batched mean field
