# MIXIN (track): the box-conditioned track (DESIGN.md, "Two tracks"): RoIs are each image's ground-truth boxes; at
# test time the val ground-truth boxes and labels are the detections and only the masks are predicted. Same heads
# and losses as the detector track (the leaf configs), which this file changes only where the RoIs come from.
# PLACEHOLDER: the content is the lead's (it lands with the track's implementation); the marker below is what
# tests/integration/test_configs.py looks for until then.
model = dict(test_cfg=dict(rcnn=dict(given_boxes=True)))
