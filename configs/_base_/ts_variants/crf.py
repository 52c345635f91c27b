# MIXIN (variant of "+ ours", Mask R-CNN / OPMask RoI heads): r(Mt) = CRF(Mt) >= 0.5 (Sec. 4.2, item 2; Table 5): a
# dense CRF over the RoI-aligned image crop refines the teacher's prediction before thresholding. The data
# preprocessor keeps the RGB images for the RoI head. BoxInst + ours: boxinst-crf.py.
model = dict(
    data_preprocessor=dict(type='ImageKeepingDetDataPreprocessor'),
    roi_head=dict(pseudo_labeler=dict(
        post_process=dict(type='crf', crf_backend='torch'))))  # r: CRF(Mt) >= 0.5, batched mean field
