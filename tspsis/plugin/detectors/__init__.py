"""Mask GrabCut: a Faster R-CNN whose masks come from GrabCut in each box."""
