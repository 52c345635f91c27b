# Mask GrabCut (the baseline of Hu et al. 2018; the paper's "Mask GrabCut" rows, Table 1): masks from OpenCV's
# GrabCut initialised with each box of an R50-FPN Faster R-CNN; no mask head, so training is the box detector's alone.
# Options: tspsis.models.grabcut.MaskGrabCut.
_base_ = './mask-rcnn_r50_fpn_paper.py'

model = dict(
    type='MaskGrabCut',           # predict: boxes, then cv2.grabCut(GC_INIT_WITH_RECT) per box on the input image
    roi_head=dict(mask_roi_extractor=None, mask_head=None),  # Faster R-CNN: no learned mask head
    grabcut=dict(
        iterations=5,             # GrabCut iterations (OpenCV's usual 5)
        context=0.25,             # crop = box + 25% of its size per side: GrabCut's background ring (our choice)
        max_side=None))           # set e.g. 256 to downscale large crops for speed (not in the papers)
