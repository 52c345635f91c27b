"""SeparableRoIAlign: torchvision's roi_align values and gradients (every sampling rule), as an mmdet RoI layer."""
import pytest
import torch
from torchvision.ops import roi_align

from tspsis.plugin.roi_align import SeparableRoIAlign, separable_roi_align


def _case(seed: int, batch: int = 4, size: int = 20, rois: int = 40, dtype=torch.float64):
    """Features and RoIs in image pixels (stride 4): large, tiny, empty, half and wholly outside the map; one image
    without RoIs."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, 3, size, size + 3, dtype=dtype, generator=generator)
    xy = torch.rand(rois, 2, dtype=dtype, generator=generator) * 110 - 15
    wh = torch.rand(rois, 2, dtype=dtype, generator=generator) ** 2 * 90
    wh[:3] = torch.tensor([[0.0, 0.0], [0.3, 5.0], [200.0, 150.0]], dtype=dtype)
    xy[3] = torch.tensor([-60.0, 120.0], dtype=dtype)  # wholly outside
    image = torch.randint(0, batch - 1, (rois, 1), generator=generator).to(dtype)  # the last image has none
    return features, torch.cat([image, xy, xy + wh], 1)


@pytest.mark.parametrize("sampling_ratio, aligned", [(0, True), (2, True), (0, False)])
@pytest.mark.parametrize("seed", [0, 1])
def test_values_and_gradients_equal_torchvision(seed, sampling_ratio, aligned):
    features, rois = _case(seed)
    features.requires_grad_()
    args = ((7, 5), 0.25, sampling_ratio, aligned)
    ours, theirs = separable_roi_align(features, rois, *args), roi_align(features, rois, *args)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    assert theirs.abs().sum() > 0 and ours[3].abs().max() == 0  # something sampled; the RoI outside: zeros
    upstream = torch.randn_like(theirs)
    ours_grad, = torch.autograd.grad(ours, features, upstream)
    theirs_grad, = torch.autograd.grad(theirs, features, upstream)
    torch.testing.assert_close(ours_grad, theirs_grad, rtol=0, atol=1e-12)


def test_fp32_channels_last_bf16_autocast_and_no_rois():
    features, rois = _case(2, dtype=torch.float32)
    expected = roi_align(features, rois, 14, 0.25, 0, True)
    layer = SeparableRoIAlign(14, spatial_scale=0.25)
    torch.testing.assert_close(layer(features.contiguous(memory_format=torch.channels_last), rois), expected)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # both compute in fp32 and return bf16
        torch.testing.assert_close(layer(features.bfloat16(), rois),
                                   roi_align(features.bfloat16(), rois, 14, 0.25, 0, True), rtol=0, atol=0)
    assert layer(features, rois[:0]).shape == (0, 3, 14, 14)


def test_an_mmdet_roi_extractor_builds_it_by_name():
    from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor

    extractor = SingleRoIExtractor(roi_layer=dict(type="SeparableRoIAlign", output_size=7, sampling_ratio=0),
                                   out_channels=3, featmap_strides=[4, 8])
    assert isinstance(extractor.roi_layers[1], SeparableRoIAlign) and extractor.roi_layers[1].spatial_scale == 0.125
