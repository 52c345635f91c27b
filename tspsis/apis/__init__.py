"""The apis layer: inference from a trained model as a library (docs/DESIGN.md, "Layers"), as mmdet keeps it in
``mmdet.apis``. ``tspsis predict`` calls it; it uses the engine's config
composition and the plugin, and imports mmdet only inside its functions.

``tracks`` (the box-conditioned track's mixin, ``BOX_TRACK_MIXIN``, and ``box_conditioned``), ``inputs`` (images
and the boxes given for them: ``collect_images``, ``read_boxes``), and ``inference`` (``Predictor``: a config +
checkpoint's masks of an image, detected or of given boxes; ``coco_records``).
"""
from tspsis.apis.inference import Predictor, coco_records
from tspsis.apis.inputs import BoxSource, GivenBoxes, collect_images, read_boxes
from tspsis.apis.tracks import BOX_TRACK_MIXIN, box_conditioned

__all__ = ["BOX_TRACK_MIXIN", "BoxSource", "GivenBoxes", "Predictor", "box_conditioned", "coco_records",
           "collect_images", "read_boxes"]
