"""Class-activation maps (Eq. 8-9): tspsis.core.cam."""

from __future__ import annotations

import pytest
import torch

from tspsis.core.cam import cam_for_labels, class_activation_map, gap_logits, normalize_cam

# D = 2 feature channels on a 2x2 map, C = 2 classes.
FEATURES = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [1.0, 0.0]]]])  # (1, 2, 2, 2)
WEIGHT = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])  # (C, D)
BIAS = torch.tensor([0.5, -1.0])
# class 0: 1*F0 + 2*F1 + 0.5;  class 1: -1*F0 + 0.5*F1 - 1
CAM_CLASS0 = [[1.5, 4.5], [5.5, 4.5]]
CAM_CLASS1 = [[-2.0, -2.5], [-3.5, -5.0]]
# GAP(F) = (2.5, 0.5): class 0: 2.5 + 1 + 0.5 = 4; class 1: -2.5 + 0.25 - 1 = -3.25
LOGITS = [[4.0, -3.25]]


def test_cam_by_hand():
    cam = class_activation_map(FEATURES, WEIGHT, BIAS)
    assert cam.shape == (1, 2, 2, 2)
    assert cam.tolist() == [[CAM_CLASS0, CAM_CLASS1]]


def test_gap_logits_by_hand():
    assert gap_logits(FEATURES, WEIGHT, BIAS).tolist() == LOGITS


def test_gap_logits_match_a_linear_classifier_on_pooled_features():
    torch.manual_seed(0)
    features = torch.randn(3, 16, 7, 7)
    classifier = torch.nn.Linear(16, 5)
    expected = classifier(torch.nn.functional.adaptive_avg_pool2d(features, 1).flatten(1))
    torch.testing.assert_close(gap_logits(features, classifier.weight, classifier.bias), expected)


def test_spatial_mean_of_cam_equals_classification_logits():
    # GAP commutes with the linear classifier: mean_ij cam_ij = p_cls (Eq. 8 vs Eq. 9).
    gen = torch.Generator().manual_seed(1)
    features = torch.randn(4, 256, 7, 7, generator=gen, dtype=torch.float64)
    weight = torch.randn(81, 256, generator=gen, dtype=torch.float64)
    bias = torch.randn(81, generator=gen, dtype=torch.float64)
    cam = class_activation_map(features, weight, bias)
    torch.testing.assert_close(cam.mean(dim=(2, 3)), gap_logits(features, weight, bias))


def test_cam_for_labels_selects_each_rois_class():
    gen = torch.Generator().manual_seed(2)
    features = torch.randn(5, 8, 7, 7, generator=gen)
    weight, bias = torch.randn(4, 8, generator=gen), torch.randn(4, generator=gen)
    labels = torch.tensor([3, 0, 0, 2, 1])
    full = class_activation_map(features, weight, bias)
    picked = cam_for_labels(features, weight, bias, labels)
    assert picked.shape == (5, 1, 7, 7)
    torch.testing.assert_close(picked[:, 0], full[torch.arange(5), labels])
    assert cam_for_labels(FEATURES, WEIGHT, BIAS, torch.tensor([1])).tolist() == [[CAM_CLASS1]]


def test_normalize_cam_min_max_per_map():
    cam = class_activation_map(FEATURES, WEIGHT, BIAS)
    normalized = normalize_cam(cam)
    # class 0: (x - 1.5) / 4; class 1: (x + 5) / 3
    expected = torch.tensor([[[[0.0, 0.75], [1.0, 0.75]], [[1.0, 2.5 / 3], [0.5, 0.0]]]])
    torch.testing.assert_close(normalized, expected)
    assert torch.equal(normalize_cam(torch.full((2, 3, 3), 7.0)), torch.zeros(2, 3, 3))


def test_cam_rejects_bad_shapes():
    with pytest.raises(ValueError, match="class_activation_map.*cls_weight"):
        class_activation_map(FEATURES, torch.zeros(2, 3), BIAS)
    with pytest.raises(ValueError, match="gap_logits.*cls_bias"):
        gap_logits(FEATURES, WEIGHT, torch.zeros(3))
    with pytest.raises(ValueError, match="cam_for_labels.*labels"):
        cam_for_labels(FEATURES, WEIGHT, BIAS, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="class_activation_map.*features"):
        class_activation_map(torch.zeros(2, 2, 2), WEIGHT, BIAS)
