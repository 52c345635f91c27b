"""The box-conditioned track as a config change: its mixin (``BOX_TRACK_MIXIN``, the one file that holds the track's
keys; the experiments' profiles merge it as prediction with given boxes does) and the test for a config already in
the track. The mixin's path lives here, not in ``tspsis.core.paths``: a training's code digest covers core, so a
constant there would be part of every run's key."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from tspsis.core.paths import CONFIGS

if TYPE_CHECKING:
    from tspsis.engine.request import RunRequest

__all__ = ["BOX_TRACK_MIXIN", "box_conditioned", "is_box_conditioned", "on_given_boxes"]

BOX_TRACK_MIXIN = "_base_/tracks/box-conditioned.py"  # relative to CONFIGS, as the profiles name their mixins


def box_conditioned(cfg):
    """``cfg`` (an ``mmengine.Config``, changed in place and returned) in the box-conditioned track: the track's own
    mixin (``BOX_TRACK_MIXIN``) merged over it. At test time that is the RPN replaced by ``GroundTruthProposals``
    and ``test_cfg.rcnn.given_boxes``; its training keys (sampler, pseudo-mask monitor, mask IoU of the evaluator)
    do not act on a prediction. Merging it over a box-conditioned config changes nothing that predicts."""
    from tspsis.engine.config import merge_mixin

    merge_mixin(cfg, CONFIGS / BOX_TRACK_MIXIN)
    return cfg


def is_box_conditioned(cfg) -> bool:
    """Whether ``cfg``'s model segments given boxes (its RPN is ``GroundTruthProposals`` or
    ``test_cfg.rcnn.given_boxes`` is set) rather than its own detections."""
    model = cfg.model
    rpn = model.get("rpn_head") or {}
    rcnn = (model.get("test_cfg") or {}).get("rcnn") or {}
    return rpn.get("type") == "GroundTruthProposals" or bool(rcnn.get("given_boxes", False))


_SET_ASIDE_BY_THE_TRACK = ("model.train_cfg.", "model.rpn_head.")  # what the track's mixin replaces


def on_given_boxes(request: RunRequest) -> RunRequest:
    """``request`` (a test's, ``RunRequest.test_of``) with the track's mixin merged last: a detector-track checkpoint
    then segments the val images' ground-truth boxes, its RPN and box head set aside. What its mask heads learned,
    apart from what its detector finds. Options on ``model.train_cfg`` and ``model.rpn_head`` are left out: the
    mixin replaces the RoI sampler and the RPN they may name (e.g. ``model.train_cfg.rcnn.sampler.num``,
    ``model.rpn_head.loss_cls.loss_weight``), and a training option never acts on a test. A request already in the
    track is returned as it is."""
    mixin = (CONFIGS / BOX_TRACK_MIXIN).resolve()
    if mixin in request.mixins:
        return request
    options = tuple(o for o in request.cfg_options if not o.lstrip("+").startswith(_SET_ASIDE_BY_THE_TRACK))
    return dataclasses.replace(request, mixins=(*request.mixins, mixin), cfg_options=options, composition=None)
