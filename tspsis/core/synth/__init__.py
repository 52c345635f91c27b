"""The synthetic benchmark (docs/DESIGN.md, "Profiles"): categories, generator settings per profile
(``SYNTH_PROFILES``: the data generator settings of a ``tspsis.lab.profiles.Profile``), rendering (``render``) and
writing (``writer.generate``). See :mod:`tspsis.core.synth.render` for the design."""
from tspsis.core.synth.render import (APPEARANCES, CATEGORIES, GENERATOR_VERSION, MIN_VISIBLE_PIXELS, SHAPE_FAMILIES,
                                      SYNTH_PROFILES, VOC_CATEGORY_NAMES, SynthProfile, SynthSample, render_sample)
from tspsis.core.synth.writer import generate

__all__ = ["APPEARANCES", "CATEGORIES", "GENERATOR_VERSION", "MIN_VISIBLE_PIXELS", "SHAPE_FAMILIES", "SYNTH_PROFILES",
           "SynthProfile", "SynthSample", "VOC_CATEGORY_NAMES", "generate", "render_sample"]
