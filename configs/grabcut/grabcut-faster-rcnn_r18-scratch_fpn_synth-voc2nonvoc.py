# Mask GrabCut (the baseline of Hu et al. 2018; "Mask GrabCut", Table 1) on the synthetic benchmark, voc -> nonvoc:
# boxes of every category train the R18 Faster R-CNN (from scratch; no mask head, so no mask is used), GrabCut makes
# the masks; scored on the 18 nonvoc-like categories as unseen. Sized for a 2-core CPU (one GPU: mixin
# ../_base_/schedules/synth-gpu_1xb16-3000it.py). Options: tspsis.plugin.detectors.grabcut.MaskGrabCut.
_base_ = ['../_base_/models/mask-rcnn_r18-scratch_fpn.py', '../_base_/datasets/synth_voc2nonvoc.py',
          '../_base_/schedules/schedule_synth_cpu.py']

model = dict(
    type='MaskGrabCut',           # predict: boxes, then cv2.grabCut(GC_INIT_WITH_RECT) per box on the input image
    roi_head=dict(mask_roi_extractor=None, mask_head=None),  # Faster R-CNN: no learned mask head
    grabcut=dict(
        iterations=5,             # GrabCut iterations (OpenCV's usual 5)
        context=0.25,             # crop = box + 25% of its size per side: GrabCut's background ring (our choice)
        max_side=None))           # set e.g. 256 to downscale large crops for speed (not in the papers)
