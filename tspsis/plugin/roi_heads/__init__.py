"""Partially supervised and teacher-student RoI heads (Mask R-CNN, OPMask, CPMask, MaskX) and the box-conditioned track."""
