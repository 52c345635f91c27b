"""A finished run's model, rebuilt from its work dir (the config mmengine dumped there + the run's checkpoint), and
one image with one object's box through its test pipeline, data preprocessor and backbone + neck: what the
figures that look inside a head start from (:mod:`tspsis.apis.explain`). Only these functions import mmdet
(lazily)."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["load_run_model", "run_config_file", "through_network"]


def run_config_file(run) -> Path:
    """The resolved config mmengine dumped into the work dir of ``run`` (a ``tspsis.engine.work_dir.Run``): the
    metrics' ``run.dumped_config``; runs recorded before that key have it named as their leaf config."""
    meta = run.metrics["run"]
    return Path(run.work_dir) / (meta.get("dumped_config") or Path(meta["config"]).name)


def load_run_model(run):
    """(model, test pipeline) of a finished run on the CPU: mmdet's ``init_detector`` on :func:`run_config_file`
    and ``run.checkpoint`` (weights-only loading), and the config's test pipeline composed."""
    from mmdet.apis import init_detector
    from mmdet.utils import get_test_pipeline_cfg
    from mmengine.dataset import Compose

    from tspsis.core.checkpoint import install_mmengine_loader

    install_mmengine_loader()
    model = init_detector(str(run_config_file(run)), str(run.checkpoint), device="cpu")
    return model, Compose(get_test_pipeline_cfg(model.cfg))


def through_network(model, pipeline, image_path: str | os.PathLike, image_id: int, bbox: tuple[float, ...]):
    """One image through a run's test pipeline, data preprocessor and backbone + neck, and one box on it.

    image_path, image_id: the image file and its id (the data sample's ``img_id``); bbox: (4,) the object's box
    xywh in the image's pixels.

    Returns (data, batch, feats, box): data the pipeline's output (``inputs`` (3, h, w) uint8, ``data_samples``
    with ``img_shape`` (h, w) and ``scale_factor``); batch the preprocessor's (``inputs`` (1, 3, Hp, Wp) float,
    normalised and padded); feats ``extract_feat``'s levels, each (1, D, Hp / s, Wp / s); box (1, 4) the box xyxy
    scaled to the network input.
    """
    import torch

    data = pipeline(dict(img_path=str(image_path), img_id=image_id))
    batch = model.data_preprocessor({"inputs": [data["inputs"]], "data_samples": [data["data_samples"]]})
    scale_x, scale_y = data["data_samples"].metainfo["scale_factor"]
    x, y, w, h = bbox
    box = torch.tensor([[x * scale_x, y * scale_y, (x + w) * scale_x, (y + h) * scale_y]])
    return data, batch, model.extract_feat(batch["inputs"]), box
