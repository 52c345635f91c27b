# Mask GrabCut (the baseline of Hu et al. 2018; "Mask GrabCut", Table 1): masks from OpenCV's GrabCut initialised
# with each box of an R50-FPN Faster R-CNN, COCO voc -> nonvoc: boxes of every category train the detector (no mask
# head, so no mask is used); scored on the 60 nonvoc categories as unseen. Options: tspsis.plugin.detectors.grabcut.MaskGrabCut.
# Paper, Table 1: 19.7 mask AP on the unseen categories.
_base_ = ['../_base_/models/mask-rcnn_r50_fpn_paper.py', '../_base_/datasets/coco_voc2nonvoc.py',
          '../_base_/schedules/schedule_1x.py']

model = dict(
    type='MaskGrabCut',           # predict: boxes, then cv2.grabCut(GC_INIT_WITH_RECT) per box on the input image
    roi_head=dict(mask_roi_extractor=None, mask_head=None),  # Faster R-CNN: no learned mask head
    grabcut=dict(
        iterations=5,             # GrabCut iterations (OpenCV's usual 5)
        context=0.25,             # crop = box + 25% of its size per side: GrabCut's background ring (our choice)
        max_side=None))           # set e.g. 256 to downscale large crops for speed (not in the papers)
