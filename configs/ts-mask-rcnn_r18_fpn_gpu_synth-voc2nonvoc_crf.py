# r(Mt) = CRF(Mt) >= 0.5 (Sec. 4.2, item 2; Table 5): a dense CRF over the RoI-aligned image crop refines the
# teacher's prediction before thresholding. The data preprocessor keeps the RGB images for the RoI head.
_base_ = './ts-mask-rcnn_r18_fpn_gpu_synth-voc2nonvoc_thr.py'

model = dict(
    data_preprocessor=dict(type='ImageKeepingDetDataPreprocessor'),
    roi_head=dict(pseudo_mask=dict(type='crf', crf_backend='torch')))  # r: CRF(Mt) >= 0.5, batched mean field
