"""The apis layer: inference from a trained model as a library (docs/DESIGN.md, "Layers"), as mmdet keeps it in
``mmdet.apis``. ``tspsis predict`` and the figures of ``tspsis.viz`` call it; it uses the engine's config
composition and the plugin, and imports mmdet only inside its functions.

``tracks`` (the box-conditioned track's mixin, ``BOX_TRACK_MIXIN``, ``box_conditioned``, and ``on_given_boxes``:
a test's request on the ground-truth boxes), ``inputs`` (images and the boxes given for them: ``collect_images``,
``read_boxes``), ``inference`` (``Predictor``: a config + checkpoint's masks of an image, detected or of given boxes;
``coco_records``), ``model`` (a finished run's model from its work dir: ``load_run_model``) and ``explain`` (what a
trained head makes of an object: ``explain_objects`` for the teacher-student head, ``opmask_cams``).
"""
from tspsis.apis.explain import ObjectExplanation, explain_objects, opmask_cams
from tspsis.apis.inference import Predictor, coco_records
from tspsis.apis.inputs import BoxSource, GivenBoxes, collect_images, read_boxes
from tspsis.apis.model import load_run_model
from tspsis.apis.tracks import BOX_TRACK_MIXIN, box_conditioned, on_given_boxes

__all__ = ["BOX_TRACK_MIXIN", "BoxSource", "GivenBoxes", "ObjectExplanation", "Predictor", "box_conditioned",
           "coco_records", "collect_images", "explain_objects", "load_run_model", "on_given_boxes", "opmask_cams",
           "read_boxes"]
