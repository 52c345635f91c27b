"""ImageKeepingDetDataPreprocessor: keeps the RGB training images next to the ground truth, for the dense-CRF
post-processing r(Mt) = CRF(Mt) >= 0.5, which needs pixels (paper Table 5)."""

from __future__ import annotations

from torch import Tensor

from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS

from tspsis.plugin.utils.partial_supervision import RGB_IMAGE_KEY

__all__ = ['ImageKeepingDetDataPreprocessor', 'rgb_inputs']


@MODELS.register_module()
class ImageKeepingDetDataPreprocessor(DetDataPreprocessor):
    """``DetDataPreprocessor`` that, in training, also keeps each image as RGB in [0, 255].

    The image (3, H, W) float — the padded batch input, de-normalised with this preprocessor's
    mean/std and put in RGB order — goes to ``data_sample.gt_instances.metainfo['rgb_image']``, where
    a RoI head (which only receives the ground-truth instances) can RoI-align it. Images are assumed
    loaded BGR, as mmcv does, so without ``bgr_to_rgb`` the channels are flipped here.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        if training and data['data_samples'] is not None:
            for image, data_sample in zip(rgb_inputs(self, data['inputs']), data['data_samples']):
                data_sample.gt_instances.set_metainfo({RGB_IMAGE_KEY: image})
        return data


def rgb_inputs(preprocessor: DetDataPreprocessor, inputs: Tensor) -> Tensor:
    """(B, 3, H, W) RGB [0, 255] of a batch the preprocessor produced: its inputs (B, 3, H, W) de-normalised
    with its mean/std, channels flipped unless it converted BGR to RGB (images are loaded BGR, as mmcv does)."""
    inputs = inputs.float()
    if preprocessor._enable_normalize:
        inputs = inputs * preprocessor.std + preprocessor.mean
    if not preprocessor._channel_conversion:
        inputs = inputs.flip(1)
    return inputs
