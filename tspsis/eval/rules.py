"""The evaluation's constants and the rules stored in every metrics file (``meta``): what each number means."""
from __future__ import annotations





AP_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl")
GROUPS: tuple[str, ...] = ("unseen", "seen", "all")
IOU_TYPES: tuple[str, ...] = ("segm", "bbox")
BACKENDS: tuple[str, ...] = ("pycocotools", "faster_coco_eval")
OVERLAPPED_THRESHOLD = 0.3  # Table 2: "all testing objects with overlap O >= 0.3"
FP_MATCH_IOU = 0.5  # Fig. 3: a detection is attributed to the ground truth it matches at box IoU >= 0.5
MASK_IOU_MIN_BOX_IOU = 0.9  # box-conditioned track: a detection pairs with a ground truth of (almost) its box
SUBSET_RULE = ("ground truth outside the subset is ignored and so are unmatched detections outside it (like COCO "
               "area ranges): a detection matched to ignored ground truth is neither TP nor FP; an unmatched "
               "detection is FP if its own O (DETECTION_OVERLAP_RULE) is in the subset, else ignored")
DETECTION_OVERLAP_RULE = ("a detection's O is the O (Eq. 1) of the non-crowd ground truth of its image and "
                          "category whose box has the highest IoU with the detection's box (bbox for bbox AP, the "
                          "mask's tight box for segm AP); when its box overlaps none of them, Eq. 1 on the "
                          "detection's box against every ground-truth mask of the image")
FP_RULE = ("detections matched to ground truth as COCOeval does at box IoU 0.5 (per image and category, greedy "
           "by score, 100 per image; the detection's bbox, or its mask's tight box when it has none), so masks "
           "that spill onto a neighbour are counted even when their mask IoU is below 0.5; their mask pixels "
           "outside the matched mask are attributed to seen objects if any seen-category ground-truth mask of "
           "the image covers them (seen wins over unseen), else to unseen objects if an unseen-category mask "
           "covers them, else to background")
MASK_IOU_RULE = ("each non-crowd ground-truth instance is paired with at most one detection of its image and "
                 "category, one-to-one and greedily in decreasing box IoU (ties: higher mask IoU), among pairs "
                 "with box IoU >= min_box_iou; mIoU = 100 x mean mask IoU over the ground truth, an unpaired "
                 "instance counting 0 (and counted in 'missing'); scores are not used; bins are by the ground "
                 "truth's O (Eq. 1)")
