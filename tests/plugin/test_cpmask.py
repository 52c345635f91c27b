"""CPMask's boundary and pixel-affinity losses (tspsis.plugin.roi_heads.cpmask) on a partially supervised Mask R-CNN, CPU.

Checks: boundary targets and the affinity loss on hand-made masks, the head's loss wiring with hand-computed values,
one training step of the synthetic configs, unseen-category masks cannot leak into training, inference shapes.
The configs: tests/repo/test_configs.py.
"""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mmdet")
from mmdet.registry import MODELS  # noqa: E402

from tspsis.plugin.roi_heads import cpmask  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SYNTH = [f"cpmask_r18-scratch_fpn_synth-{direction}.py" for direction in ("voc2nonvoc", "nonvoc2voc")]
NUM_CLASSES = 24
SIZE = 64
MASK_KEYS = ("loss_mask", "loss_boundary", "loss_affinity")

pytestmark = [pytest.mark.usefixtures("single_thread"), pytest.mark.slow]  # builds and steps models


# ------------------------------------------------------------------------------------------- targets
def grid(rows: list[str]) -> torch.Tensor:
    return torch.tensor([[c == "#" for c in row] for row in rows])


def test_boundary_targets_hand_made():
    square = grid([".....",
                   ".###.",
                   ".###.",
                   ".###.",
                   "....."])
    # Dilation with the 4-connected cross: the square plus the cells beside its edges (no corners);
    # erosion: the centre only. Boundary: dilation minus erosion.
    expected = grid([".###.",
                     "#####",
                     "##.##",
                     "#####",
                     ".###."])
    at_border = grid(["##...",
                      "##...",
                      "##...",
                      "##...",
                      "##..."])
    # Outside the grid counts as foreground for the erosion: no boundary along the RoI's left edge, top or bottom.
    expected_border = grid([".##..",
                            ".##..",
                            ".##..",
                            ".##..",
                            ".##.."])
    out = cpmask.boundary_targets(torch.stack([square, at_border, torch.zeros(5, 5, dtype=torch.bool)]))
    assert out.dtype == torch.bool
    assert torch.equal(out[0], expected)
    assert torch.equal(out[1], expected_border)
    assert not out[2].any()
    with pytest.raises(ValueError, match="masks"):
        cpmask.boundary_targets(square)


def test_affinity_loss_hand_made():
    foreground = grid(["##...",
                       "##...",
                       ".....",
                       ".....",
                       "....."])  # 4 of 25 cells
    empty = torch.zeros(5, 5, dtype=torch.bool)
    uniform = torch.full((1, 25, 25), 1 / 25)  # every cell attends to all cells alike: a = 4 / 25
    assert cpmask.affinity_loss(uniform, foreground[None]).item() == pytest.approx(21 / 25)

    fg = foreground.flatten().float()
    on_foreground = (fg / fg.sum()).expand(1, 25, 25)  # every cell attends to the foreground only: a = 1
    assert cpmask.affinity_loss(on_foreground, foreground[None]).item() == pytest.approx(0.0, abs=1e-7)

    both = torch.cat([uniform, on_foreground, uniform])  # the RoI without foreground does not count
    loss = cpmask.affinity_loss(both.requires_grad_(), torch.stack([foreground, foreground, empty]))
    assert loss.item() == pytest.approx(21 / 50)
    loss.backward()
    assert torch.count_nonzero(both.grad[2]) == 0 and torch.count_nonzero(both.grad[0]) > 0

    none = cpmask.affinity_loss(uniform.clone().requires_grad_(), empty[None])
    assert none.item() == 0 and none.requires_grad


def test_pixel_affinity_starts_as_identity_and_is_a_distribution():
    block = cpmask.PixelAffinity(8)
    x = torch.randn(3, 8, 5, 4)
    out, affinity = block(x)
    assert affinity.shape == (3, 20, 20)
    assert torch.allclose(affinity.sum(-1), torch.ones(3, 20)) and (affinity >= 0).all()
    assert torch.equal(out, x)  # zero-initialised BN scale: the relation term starts at 0


def test_auxiliary_losses_hand_computed(build_model):
    head = build_model(SYNTH[0]).roi_head.mask_head
    targets = torch.zeros(3, 28, 28)
    targets[:, :14, :14] = 1  # on the 14x14 affinity grid (every second cell): 7x7 = 49 of 196 cells
    outputs = cpmask.CPMaskOutputs(
        mask_logits=torch.zeros(3, 1, 28, 28), boundary_logits=torch.zeros(3, 1, 28, 28),
        affinity=torch.full((3, 196, 196), 1 / 196), affinity_size=(14, 14))
    losses = head.auxiliary_losses(outputs, targets, torch.tensor([True, True, False]))
    assert losses["loss_boundary"].item() == pytest.approx(0.5 * math.log(2))  # BCE of logit 0, weight 0.5
    assert losses["loss_affinity"].item() == pytest.approx(0.5 * (1 - 49 / 196))

    none = head.auxiliary_losses(outputs, targets, torch.zeros(3, dtype=torch.bool))
    assert none["loss_boundary"].item() == 0 and none["loss_affinity"].item() == 0


# ------------------------------------------------------------------------------------------ training
@pytest.mark.parametrize("name", SYNTH)
def test_synthetic_config_trains_one_step(load_config, build_model, partial_batch, train_one_step, name):
    cfg = load_config(name)
    log_vars, changed = train_one_step(build_model(cfg), partial_batch(), cfg.optim_wrapper)

    assert set(MASK_KEYS) <= set(log_vars)
    assert all(math.isfinite(log_vars[k].item()) and log_vars[k].item() > 0 for k in MASK_KEYS)
    for prefix in ("roi_head.mask_head.convs.", "roi_head.mask_head.boundary_head.",
                   "roi_head.mask_head.pixel_affinity.query.", "roi_head.mask_head.boundary_gate."):
        assert any(n.startswith(prefix) for n in changed), prefix


def test_affinity_loss_reaches_the_query_and_key_convs(build_model, partial_batch, losses_and_grads):
    model = build_model(SYNTH[0])
    losses_and_grads(model, partial_batch(), backward={"loss_affinity"})
    for name in ("query", "key"):
        grad = getattr(model.roi_head.mask_head.pixel_affinity, name).conv.weight.grad
        assert grad is not None and torch.count_nonzero(grad) > 0, name


def test_unseen_masks_do_not_leak(build_model, partial_batch, check_unseen_masks_do_not_leak):
    model = build_model(SYNTH[0])
    # The comparison is sensitive: erasing a *seen* object's mask changes all three mask losses. (Inverting it
    # would not change loss_boundary: a mask and its complement share their boundary.)
    zero_losses, changed_losses = check_unseen_masks_do_not_leak(model, partial_batch, change_seen_mask=np.zeros_like)
    assert all(not torch.equal(zero_losses[k], changed_losses[k]) for k in MASK_KEYS)


def test_without_seen_objects_the_graph_is_kept(build_model, partial_batch, losses_and_grads):
    model = build_model(SYNTH[0])
    batch = partial_batch()
    for sample in batch["data_samples"]:
        sample.gt_instances.has_mask[:] = False
    losses, grads = losses_and_grads(model, batch)
    assert all(losses[k].item() == 0 for k in MASK_KEYS)
    mask_grads = [g for n, g in grads.items() if n.startswith("roi_head.mask_head.")]
    assert mask_grads and all(torch.count_nonzero(g) == 0 for g in mask_grads)


@pytest.mark.parametrize("bad, message", [
    ({"class_agnostic": False}, "class_agnostic"),
    ({"conv_out_channels": 32}, "conv_out_channels"),
])
def test_bad_head_options_say_what_is_wrong(load_config, bad, message):
    cfg = load_config(SYNTH[0])
    cfg.model.roi_head.mask_head.update(bad)
    with pytest.raises(ValueError, match=message):
        MODELS.build(cfg.model)


def test_roi_head_needs_the_cpmask_head(load_config):
    cfg = load_config(SYNTH[0])
    head = cfg.model.roi_head.mask_head
    head.type = "FCNMaskHead"
    del head.loss_boundary, head.loss_affinity_weight
    with pytest.raises(ValueError, match="CPMaskHead"):
        MODELS.build(cfg.model)


# ----------------------------------------------------------------------------------------- inference
def test_predict_gives_image_sized_masks(build_model, partial_batch, predict):
    model = build_model(SYNTH[0])
    outputs = predict(model, partial_batch())
    with torch.no_grad():
        mask_logits = model.roi_head.mask_head(torch.zeros(3, 64, 14, 14))
    assert mask_logits.shape == (3, 1, 28, 28)
    for out in outputs:
        masks = out.pred_instances.masks
        assert len(masks) > 0 and masks.shape[1:] == (SIZE, SIZE) and len(masks) == len(out.pred_instances.bboxes)
