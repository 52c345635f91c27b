"""CPMask's boundary and pixel-affinity losses (tspsis.models.cpmask) on a partially supervised Mask R-CNN, CPU.

Checks: boundary targets and the affinity loss on hand-made masks, the head's loss wiring with hand-computed values,
one training step of the synthetic configs, unseen-category masks cannot leak into training, inference shapes, and
the configs say what their names say.
"""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mmdet")
from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.structures.mask import BitmapMasks  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from tspsis.models import cpmask  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SYNTH = [f"cpmask_r18_fpn_{device}_synth-{direction}.py" for device in ("cpu", "gpu")
         for direction in ("voc2nonvoc", "nonvoc2voc")]
NUM_CLASSES = 24
SIZE = 64
MASK_KEYS = ("loss_mask", "loss_boundary", "loss_affinity")
# (box xyxy, label, has_mask) per image: seen and unseen objects that overlap each other.
OBJECTS = [
    [([4, 4, 40, 44], 0, True), ([20, 16, 60, 60], 5, False), ([30, 2, 62, 28], 7, True)],
    [([8, 10, 56, 50], 3, False), ([2, 30, 30, 62], 11, True)],
]


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny convolutions run fastest on one thread; several threads on shared cores crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def load(name: str) -> Config:
    register_all_modules()
    return Config.fromfile(str(CONFIGS / name))


def build(name: str = SYNTH[0]):
    """The synthetic CPMask model with RoI sampling cut down for speed."""
    cfg = load(name)
    cfg.merge_from_dict({"model.train_cfg.rcnn.sampler.num": 32,
                         "model.train_cfg.rpn_proposal.max_per_img": 64,
                         "model.test_cfg.rpn.max_per_img": 64})
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def object_masks(unseen: str) -> list:
    """Per image (N, SIZE, SIZE) uint8 masks; box-only (unseen) objects' masks hold `unseen`:
    'zero' (what the loader gives) or 'random' (scrambled)."""
    rng = np.random.default_rng(123)
    out = []
    for objects in OBJECTS:
        masks = np.zeros((len(objects), SIZE, SIZE), np.uint8)
        for i, (box, _, has_mask) in enumerate(objects):
            x0, y0, x1, y1 = box
            if has_mask:  # an ellipse inside the box
                yy, xx = np.mgrid[:SIZE, :SIZE]
                cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
                masks[i] = ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1
            elif unseen == "random":
                masks[i] = rng.integers(0, 2, (SIZE, SIZE))
        out.append(masks)
    return out


def make_batch(unseen: str = "zero", seen_masks: list | None = None) -> dict:
    masks = seen_masks if seen_masks is not None else object_masks(unseen)
    rng = np.random.default_rng(0)
    inputs, samples = [], []
    for objects, image_masks in zip(OBJECTS, masks):
        sample = DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
                                             scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([box for box, _, _ in objects], dtype=torch.float32),
            labels=torch.tensor([label for _, label, _ in objects]),
            masks=BitmapMasks(image_masks, SIZE, SIZE),
            has_mask=torch.tensor([has for _, _, has in objects]))
        samples.append(sample)
        inputs.append(torch.from_numpy(rng.integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8)))
    return dict(inputs=inputs, data_samples=samples)


def losses_and_grads(model, batch: dict) -> tuple[dict, dict]:
    """One forward/backward with a fixed seed (the RoI sampler is random)."""
    model.train()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode="loss")
    total, _ = model.parse_losses(losses)
    total.backward()
    values = {k: torch.stack(v).sum() if isinstance(v, list) else v.detach() for k, v in losses.items()}
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return values, grads


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


def test_auxiliary_losses_hand_computed():
    head = build().roi_head.mask_head
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
def test_synthetic_config_trains_one_step(name):
    cfg = load(name)
    cfg.merge_from_dict({"model.train_cfg.rpn_proposal.max_per_img": 64, "model.train_cfg.rcnn.sampler.num": 32})
    if cfg.optim_wrapper.type == "AmpOptimWrapper" and not torch.cuda.is_available():
        cfg.optim_wrapper.type = "OptimWrapper"  # mmengine's AMP wrapper needs a GPU
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    log_vars = model.train_step(make_batch(), optim_wrapper)

    assert set(MASK_KEYS) <= set(log_vars)
    assert all(math.isfinite(log_vars[k].item()) and log_vars[k].item() > 0 for k in MASK_KEYS)
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    for prefix in ("roi_head.mask_head.convs.", "roi_head.mask_head.boundary_head.",
                   "roi_head.mask_head.pixel_affinity.query.", "roi_head.mask_head.boundary_gate."):
        assert any(n.startswith(prefix) for n in changed), prefix


def test_affinity_loss_reaches_the_query_and_key_convs():
    model = build()
    model.train()
    data = model.data_preprocessor(make_batch(), training=True)
    torch.manual_seed(1)
    model(**data, mode="loss")["loss_affinity"].backward()
    for name in ("query", "key"):
        grad = getattr(model.roi_head.mask_head.pixel_affinity, name).conv.weight.grad
        assert grad is not None and torch.count_nonzero(grad) > 0, name


def test_unseen_masks_do_not_leak():
    model = build()
    zero_losses, zero_grads = losses_and_grads(model, make_batch("zero"))
    random_losses, random_grads = losses_and_grads(model, make_batch("random"))
    assert zero_losses.keys() == random_losses.keys()
    for key in zero_losses:
        assert torch.equal(zero_losses[key], random_losses[key]), key
    assert zero_grads.keys() == random_grads.keys()
    for param in zero_grads:
        assert torch.equal(zero_grads[param], random_grads[param]), param

    # The comparison is sensitive: erasing a *seen* object's mask changes all three mask losses. (Inverting it
    # would not change loss_boundary: a mask and its complement share their boundary.)
    seen_changed = object_masks("zero")
    seen_changed[0][0] = 0
    changed_losses, _ = losses_and_grads(model, make_batch(seen_masks=seen_changed))
    assert all(not torch.equal(zero_losses[k], changed_losses[k]) for k in MASK_KEYS)


def test_without_seen_objects_the_graph_is_kept():
    model = build()
    batch = make_batch()
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
def test_bad_head_options_say_what_is_wrong(bad, message):
    cfg = load(SYNTH[0])
    cfg.model.roi_head.mask_head.update(bad)
    with pytest.raises(ValueError, match=message):
        MODELS.build(cfg.model)


def test_roi_head_needs_the_cpmask_head():
    cfg = load(SYNTH[0])
    head = cfg.model.roi_head.mask_head
    head.type = "FCNMaskHead"
    del head.loss_boundary, head.loss_affinity_weight
    with pytest.raises(ValueError, match="CPMaskHead"):
        MODELS.build(cfg.model)


# ----------------------------------------------------------------------------------------- inference
def test_predict_gives_image_sized_masks():
    model = build()
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(make_batch(), training=False)
        outputs = model(**data, mode="predict")
        mask_logits = model.roi_head.mask_head(torch.zeros(3, 64, 14, 14))
    assert mask_logits.shape == (3, 1, 28, 28)
    for out in outputs:
        masks = out.pred_instances.masks
        assert len(masks) > 0 and masks.shape[1:] == (SIZE, SIZE) and len(masks) == len(out.pred_instances.bboxes)


# ------------------------------------------------------------------------------------------- configs
CPMASK_CONFIGS = sorted(p.name for p in CONFIGS.glob("cpmask_*.py"))


def test_every_cpmask_config_is_there():
    assert CPMASK_CONFIGS == sorted(SYNTH + ["cpmask_r50_fpn_1x_coco-voc2nonvoc.py",
                                             "cpmask_r50_fpn_1x_coco-nonvoc2voc.py"])


@pytest.mark.parametrize("name", CPMASK_CONFIGS)
def test_cpmask_config_matches_its_name(name):
    cfg = load(name)
    roi_head = cfg.model.roi_head
    assert roi_head.type == "CPMaskRoIHead" and roi_head.mask_head.type == "CPMaskHead"
    assert roi_head.mask_head.class_agnostic
    assert roi_head.mask_head.loss_boundary.loss_weight == 0.5 and roi_head.mask_head.loss_affinity_weight == 0.5
    seen = ("voc2nonvoc" if "voc2nonvoc" in name else "nonvoc2voc").split("2")[0]
    assert cfg.train_dataloader.dataset.ann_file.endswith(f"_{seen}.json")
    assert cfg.val_evaluator.manifest.endswith(f"_{seen}.manifest.json")
    assert cfg.model.test_cfg.rpn.max_per_img == 512 and cfg.model.test_cfg.rcnn.max_per_img == 150
    if "_coco-" in name:  # the paper's setting, Sec. 5.1
        assert cfg.model.backbone.depth == 50 and roi_head.bbox_head.num_classes == 80
        assert cfg.train_cfg.max_epochs == 12 and cfg.optim_wrapper.optimizer.lr == 0.02
    else:
        gpu = "_gpu_" in name
        assert cfg.model.backbone.depth == 18 and roi_head.bbox_head.num_classes == NUM_CLASSES
        assert cfg.train_cfg.type == "IterBasedTrainLoop" and cfg.optim_wrapper.optimizer.lr == (0.02 if gpu else 0.01)
        assert (cfg.optim_wrapper.type == "AmpOptimWrapper") == gpu
