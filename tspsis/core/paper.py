"""The numbers printed in the paper (COCO 2017, mask AP on the *unseen* categories, in percent).

Every value is copied as printed, typos included (Table 1's "Mask R-CNN + ours" voc->nonvoc APm of 16.5 and
Table 2's OPMask AP50 < AP75 look wrong but are what the paper shows). Figures 2, 3 and 8 are plots without
printed numbers; what the text says about them is kept as a sentence (``FIGURE_CLAIMS``).

Layout: ``TABLE1[backbone][method][direction] = {AP, AP50, AP75, APs, APm, APl}`` with direction in
``DIRECTIONS``; method labels are the row labels of ``tspsis.lab.METHODS``.
"""
from __future__ import annotations

__all__ = ["DIRECTIONS", "FIGURE_CLAIMS", "SETTING", "TABLE1", "TABLE2", "TABLE3", "TABLE4", "TABLE5"]

DIRECTIONS: tuple[str, ...] = ("voc2nonvoc", "nonvoc2voc")  # "voc -> non-voc" (seen -> unseen), and back
SETTING = ("COCO train2017 -> val2017, 1x schedule (12 epochs, batch 16, 8 V100), mask AP on unseen categories "
           "(Sec. 5.1)")
_AP = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def _row(v2n: tuple[float, ...], n2v: tuple[float, ...]) -> dict[str, dict[str, float]]:
    return {"voc2nonvoc": dict(zip(_AP, v2n)), "nonvoc2voc": dict(zip(_AP, n2v))}


# Table 1: comparison with the state of the art.
TABLE1: dict[str, dict[str, dict[str, dict[str, float]]]] = {
    "R50-FPN": {
        "Mask R-CNN": _row((19.2, 36.4, 18.4, 11.5, 23.3, 24.4), (23.9, 42.9, 23.5, 11.6, 24.3, 33.7)),
        "Mask R-CNN + ours": _row((21.6, 37.1, 19.1, 12.7, 16.5, 33.1), (25.1, 43.4, 23.9, 11.7, 25.9, 34.3)),
        "MaskX R-CNN": _row((23.7, 43.1, 23.5, 12.4, 27.6, 32.9), (28.9, 52.2, 28.6, 12.1, 29.0, 40.6)),
        "Mask GrabCut": _row((19.7, 39.7, 17.0, 6.4, 21.2, 35.8), (19.6, 46.1, 14.3, 5.1, 16.0, 32.4)),
        "CPMask": _row((28.8, 46.1, 30.6, 12.4, 33.1, 43.4), (34.9, 61.1, 35.0, 14.9, 34.3, 48.3)),
        "OPMask": _row((29.7, 48.7, 31.7, 13.3, 33.8, 42.3), (35.0, 60.6, 36.1, 15.4, 34.8, 48.1)),
        "OPMask + ours": _row((30.9, 50.4, 32.8, 14.5, 35.3, 44.6), (35.4, 61.0, 36.1, 15.9, 34.3, 48.8)),
        "BoxInst": _row((30.4, 51.2, 31.8, 14.3, 34.2, 44.7), (33.9, 59.6, 34.8, 13.5, 32.9, 48.6)),
        "BoxInst + ours": _row((31.4, 50.6, 32.8, 14.7, 35.1, 45.8), (34.4, 60.3, 34.6, 14.6, 33.3, 47.7)),
        "Oracle": _row((37.5, 63.1, 38.9, 15.1, 36.0, 53.1), (33.0, 53.7, 35.0, 15.1, 37.0, 49.9)),
    },
    "R101-FPN": {
        "OPMask": _row((31.9, 51.7, 33.8, 14.7, 36.2, 46.4), (35.0, 59.7, 35.7, 16.9, 34.7, 47.3)),
        "OPMask + ours": _row((32.2, 52.0, 34.0, 14.3, 36.9, 47.0), (35.6, 60.6, 36.1, 15.4, 34.8, 48.1)),
        "BoxInst": _row((31.9, 52.1, 33.7, 14.2, 35.9, 46.5), (35.5, 60.5, 36.7, 15.6, 33.8, 50.3)),
        "BoxInst + ours": _row((32.6, 52.4, 33.7, 14.0, 36.1, 46.9), (35.9, 61.0, 36.9, 15.6, 34.0, 50.6)),
        "Oracle": _row((34.3, 54.7, 36.3, 18.6, 39.1, 47.9), (38.5, 64.4, 40.4, 18.9, 39.4, 51.4)),
    },
}

# Table 2: overlapped unseen objects (O >= 0.3, Eq. 1), voc -> non-voc, R50-FPN; the full rows as printed.
TABLE2: dict[str, dict[str, float]] = {
    "Mask R-CNN": dict(zip(_AP, (16.2, 31.2, 15.4, 9.9, 14.3, 24.4))),
    "Mask R-CNN + ours": dict(zip(_AP, (17.3, 44.1, 15.8, 10.4, 14.9, 32.1))),
    "OPMask": dict(zip(_AP, (27.4, 39.7, 37.5, 12.9, 28.4, 38.6))),
    "OPMask + ours": dict(zip(_AP, (28.7, 41.1, 38.1, 13.3, 29.2, 39.8))),
}

# Table 3: stronger teacher heads (Mask R-CNN + ours, R50-FPN), unseen mask AP.
TABLE3: dict[str, dict[str, float]] = {
    "Original": {"voc2nonvoc": 21.6, "nonvoc2voc": 25.1},
    "High-res": {"voc2nonvoc": 22.1, "nonvoc2voc": 25.7},   # teacher outputs 56 x 56 masks
    "Deeper": {"voc2nonvoc": 26.3, "nonvoc2voc": 29.4},     # teacher has 12 convolutions instead of 4
}

# Table 4: components (Mask R-CNN, R50-FPN), voc -> non-voc unseen mask AP.
TABLE4: dict[str, dict] = {
    "baseline": {"teacher_student": False, "post_processing": False, "voc2nonvoc": 19.2},
    "teacher-student": {"teacher_student": True, "post_processing": False, "voc2nonvoc": 20.2},
    "teacher-student + post-processing": {"teacher_student": True, "post_processing": True, "voc2nonvoc": 21.6},
}

# Table 5: post-processing r(.) of the pseudo masks, measured by the paper on BoxInst + ours (R50).
TABLE5: dict[str, dict[str, float]] = {
    "CRF": {"voc2nonvoc": 31.4, "nonvoc2voc": 34.5, "hours": 36.0},
    "thres = 0.5": {"voc2nonvoc": 31.1, "nonvoc2voc": 34.2, "hours": 12.0},
    "Interact": {"voc2nonvoc": 31.4, "nonvoc2voc": 34.4, "hours": 12.0},
}

FIGURE_CLAIMS: dict[str, str] = {
    "Fig. 2": ("class-agnostic Mask R-CNN (voc -> non-voc): the larger the object overlap O, the lower the mask "
               "AP (plotted only; no numbers printed)"),
    "Fig. 3": ("class-specific (fully supervised) head: most false-positive pixels are on background; "
               "class-agnostic (partially supervised) head: more than half of them are on other objects "
               "(plotted only)"),
    "Fig. 8": ("adding non-voc categories to the seen set, teacher-student improves the baselines at every "
               "split, with a larger gap when fewer categories are seen (plotted only)"),
}
