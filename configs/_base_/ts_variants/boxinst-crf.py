# MIXIN (variant of "BoxInst + ours"): r(Mt) = CRF(Mt) >= 0.5 (Sec. 4.2, item 2; Table 5): a dense CRF over the
# image on the object's box refines the teacher's prediction before thresholding (PartialBoxInstDataPreprocessor
# keeps the images). The RoI-head configs' version: crf.py.
model = dict(mask_head=dict(pseudo_labeler=dict(
    post_process=dict(type='crf', crf_backend='torch'))))  # r: CRF(Mt) >= 0.5, batched mean field
