"""Loading and packing transforms for partially supervised data: instances may have a box but no mask.

mmdet 3.3's ``LoadAnnotations(with_mask=True)`` reads ``instance['mask']`` for every instance and raises
``KeyError`` on a box-only one (an unseen-category instance of a split training file). ``LoadPartialAnnotations``
gives such instances an all-zero mask and records ``results['gt_has_mask']``, np.bool_ (N,), aligned with
``gt_bboxes`` / ``gt_bboxes_labels`` / ``gt_masks`` / ``gt_ignore_flags``. ``PackPartialDetInputs`` packs it as
``data_sample.gt_instances.has_mask`` (BoolTensor (N,)), which the teacher-student RoI head reads: teacher loss
on ``has_mask`` instances only, pseudo-mask targets for the others (paper Sec. 4.1, Eq. 7).

Which mmdet 3.3 transforms keep ``gt_has_mask`` aligned:
  * safe -- they never drop, add or reorder instances: ``LoadImageFromFile``, ``Resize``, ``RandomResize``,
    ``RandomChoiceResize``, ``FixShapeResize``, ``RandomFlip``, ``Pad``, ``PhotoMetricDistortion``,
    ``YOLOXHSVRandomAug``, ``PackDetInputs`` (ignores the key; use ``PackPartialDetInputs``);
  * unsafe -- they index a fixed list of per-instance keys (``gt_bboxes``, ``gt_bboxes_labels``,
    ``gt_masks``, ``gt_ignore_flags``) and would leave ``gt_has_mask`` stale: ``FilterAnnotations`` (with
    ``by_mask=True`` it would also drop every box-only instance, whose mask is empty), ``RandomCrop``,
    ``MinIoURandomCrop``, ``RandomCenterCropPad``, ``RandomShift``, ``RandomAffine``, ``RandomErasing``,
    ``Mosaic``/``CachedMosaic``, ``MixUp``/``CachedMixUp``, ``CopyPaste``, ``Albu``.
The configs under ``configs/_base_/datasets/`` use safe transforms only, and ``PackPartialDetInputs`` raises
if the lengths disagree, so an unsafe transform fails loudly instead of mislabelling instances.
"""

from __future__ import annotations

import copy

import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmdet.datasets.transforms import LoadAnnotations, PackDetInputs
from mmdet.registry import TRANSFORMS

__all__ = ["CachedTransforms", "LoadPartialAnnotations", "PackPartialDetInputs"]


def _empty_polygon() -> list[np.ndarray]:
    """mmdet's own placeholder for a missing polygon (``LoadAnnotations._process_masks``): a degenerate
    triangle at the origin; it rasterises to an all-zero mask, also after ``PolygonMasks`` rescale / flip."""
    return [np.zeros(6)]


@TRANSFORMS.register_module()
class LoadPartialAnnotations(LoadAnnotations):
    """``LoadAnnotations`` that accepts box-only instances and adds ``gt_has_mask``.

    An instance has a mask iff it carries a non-empty ``mask`` (``PartialCocoDataset`` sets it from the
    annotation's ``segmentation``). With ``with_mask=True`` a box-only instance gets an all-zero mask: an
    (H, W) zero bitmap with ``poly2mask=True``, the empty placeholder polygon otherwise. Unlike mmdet's
    handling of an *invalid* polygon, the instance is not marked ignored: its box and label still train the
    detector and the student mask head (through a pseudo mask). Instances with a mask are processed exactly
    as by ``LoadAnnotations`` (so with ``poly2mask=False`` RLE masks, e.g. all synthetic ones, are ignored
    as in mmdet: keep the default ``poly2mask=True``).

    Added keys: ``gt_has_mask`` (np.bool_ (N,)), also when ``with_mask=False``.
    """

    def _process_masks(self, results: dict) -> list:
        """Masks (list of N polygon lists / RLE dicts) with the placeholder for box-only instances."""
        instances = results.get("instances", [])
        masked = {"instances": [instance for instance in instances if instance.get("mask")]}
        masks = iter(super()._process_masks(masked))  # may flag invalid masks as ignored, in place
        gt_masks = [next(masks) if instance.get("mask") else _empty_polygon() for instance in instances]
        results["gt_ignore_flags"] = np.array([instance["ignore_flag"] for instance in instances], dtype=bool)
        return gt_masks

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        instances = results.get("instances", [])
        results["gt_has_mask"] = np.array([bool(instance.get("mask")) for instance in instances], dtype=np.bool_)
        return results


@TRANSFORMS.register_module()
class PackPartialDetInputs(PackDetInputs):
    """``PackDetInputs`` that also packs ``gt_has_mask`` as ``gt_instances.has_mask`` (BoolTensor (N,)).

    Like every per-instance field, instances with ``gt_ignore_flags`` go to ``ignored_instances`` instead.
    """

    mapping_table = {**PackDetInputs.mapping_table, "gt_has_mask": "has_mask"}

    def transform(self, results: dict) -> dict:
        num_flags, num_boxes = len(results.get("gt_has_mask", ())), len(results.get("gt_bboxes", ()))
        if "gt_has_mask" in results and "gt_bboxes" in results and num_flags != num_boxes:
            raise ValueError(
                f"{results.get('img_path', 'image')}: gt_has_mask has {num_flags} entries but gt_bboxes has "
                f"{num_boxes}; a transform that drops instances (e.g. FilterAnnotations, RandomCrop) does not "
                f"know gt_has_mask -- see tspsis.plugin.transforms.loading for the safe transforms")
        return super().transform(results)


@TRANSFORMS.register_module()
class CachedTransforms(BaseTransform):
    """Runs deterministic ``transforms`` (decoding, a fixed resize) once per image and replays their output.

    Decoding a PNG and its RLE masks costs as much as a training step of the box-conditioned track's small
    network; its result never changes between epochs. The cache lives in the process that runs the pipeline
    (one per dataloader worker; ``num_workers=0`` keeps a single one across epochs) and holds each image's
    results, about 0.25 MB per 160 px synthetic image. Random transforms (``RandomFlip``) belong after it.
    Keyed by ``img_path``; every call returns a deep copy, so later transforms cannot alter the cache.
    """

    def __init__(self, transforms: list) -> None:
        self.transforms = Compose(transforms)
        self._cache: dict = {}

    def transform(self, results: dict) -> dict:
        key = results["img_path"]
        if key not in self._cache:
            self._cache[key] = self.transforms(results)
        return copy.deepcopy(self._cache[key])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(transforms={self.transforms!r})"
