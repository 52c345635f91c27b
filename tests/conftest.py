"""Shared fixtures: the synthetic data root, single-threaded torch, and the model tests' helpers.

The helpers build an in-memory partially annotated batch, a model from a config, its training losses and
gradients, one training step and predictions. pytest puts each test file's own folder on sys.path, not tests/,
so they reach the test files as fixtures that return the function. mmdet is imported inside the functions:
the core and eval tests do not need it.
"""

import shutil
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from tspsis.core.splits import write_split
from tspsis.core.synth import generate

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# The hand-made partially annotated case of the model tests: per image, (box xyxy, label, has_mask). Labels 5
# and 3 are box-only (unseen); seen and unseen objects overlap each other.
PARTIAL_OBJECTS = (
    (((4, 4, 40, 44), 0, True), ((20, 16, 60, 60), 5, False), ((30, 2, 62, 28), 7, True)),
    (((8, 10, 56, 50), 3, False), ((2, 30, 30, 62), 11, True)),
)
# Fewer proposals and sampled RoIs than the configs: the same code path, in a fraction of the time.
FEWER_ROIS = {"model.train_cfg.rpn_proposal.max_per_img": 64, "model.train_cfg.rcnn.sampler.num": 32,
              "model.test_cfg.rpn.max_per_img": 64}
# Two detections per image for predict_roi_masks: the boxes of the first image's first two objects.
DETECTION_BOXES = ((4.0, 4.0, 40.0, 44.0), (20.0, 16.0, 60.0, 60.0))
DETECTION_SCORES = (0.9, 0.8)


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DATA_ROOT of the `tiny` synthetic profile (seed 0), generated once per test session."""
    root = tmp_path_factory.mktemp("synth-tiny")
    generate("tiny", root, seed=0)
    return root


@pytest.fixture(scope="module")
def data_root(tiny_synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of tiny_synth, one per test module, with the voc split written (annotations/train_voc.json and its
    manifest): what a training of a voc2nonvoc config reads."""
    root = tmp_path_factory.mktemp("tiny-split")
    shutil.copytree(tiny_synth, root, dirs_exist_ok=True)
    write_split(root / "annotations" / "train.json", "voc", root / "annotations" / "train_voc.json")
    return root


@pytest.fixture(scope="module")
def single_thread():
    """Tiny convolutions run fastest on one thread; several threads on shared cores crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------------- batches
def object_masks(unseen: str = "zero", *, objects: Sequence = PARTIAL_OBJECTS, size: int = 64,
                 shape: str = "ellipse", seed: int = 123) -> list[np.ndarray]:
    """Per image the (N, size, size) uint8 masks of its N `objects` (per image, (box xyxy, label, has_mask)).

    Seen objects (has_mask) get the ellipse inscribed in their box (shape='ellipse') or the filled box
    (shape='box'). Box-only objects get `unseen`: 'zero' (what the loader gives), 'random' (uniform 0/1 noise
    from np.random.default_rng(seed)) or 'box' (the filled box).
    """
    if shape not in ("ellipse", "box") or unseen not in ("zero", "random", "box"):
        raise ValueError(f"object_masks: shape must be 'ellipse' or 'box' (got {shape!r}) and unseen 'zero', "
                         f"'random' or 'box' (got {unseen!r})")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for image_objects in objects:
        masks = np.zeros((len(image_objects), size, size), np.uint8)
        for i, ((x0, y0, x1, y1), _, has_mask) in enumerate(image_objects):
            fill = shape if has_mask else unseen
            if fill == "ellipse":
                cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
                masks[i] = ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1
            elif fill == "box":
                masks[i, y0:y1, x0:x1] = 1
            elif fill == "random":
                masks[i] = rng.integers(0, 2, (size, size))
        out.append(masks)
    return out


def partial_batch(unseen: str = "zero", *, objects: Sequence = PARTIAL_OBJECTS, masks: list | None = None,
                  size: int = 64, shape: str = "ellipse", images: str | Sequence[np.ndarray] = "noise",
                  seed: int = 0, noise_seed: int = 123) -> dict:
    """A batch as the partial loader gives it: `inputs`, per image a (3, size, size) uint8 tensor (BGR), and
    `data_samples`, DetDataSamples whose gt_instances hold bboxes (N, 4) float32 xyxy, labels (N,),
    masks (BitmapMasks, N x size x size) and has_mask (N,) bool.

    objects: per image, (box xyxy, label, has_mask) per object. masks: per image (N, size, size) uint8; by
    default object_masks(unseen, objects=objects, size=size, shape=shape, seed=noise_seed).
    images: 'noise' (uniform 0..255 from np.random.default_rng(seed)), 'boxes' (the objects painted in grey
    levels 80 + 60 k on dark noise 0..59 from that generator: colour edges for BoxInst's pairwise term) or the
    (3, size, size) uint8 arrays themselves.
    """
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    if masks is None:
        masks = object_masks(unseen, objects=objects, size=size, shape=shape, seed=noise_seed)
    if isinstance(images, str) and images not in ("noise", "boxes"):
        raise ValueError(f"partial_batch: images must be 'noise', 'boxes' or arrays, got {images!r}")
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for index, (image_objects, image_masks) in enumerate(zip(objects, masks)):
        sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                             scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([box for box, _, _ in image_objects], dtype=torch.float32),
            labels=torch.tensor([label for _, label, _ in image_objects]),
            masks=BitmapMasks(image_masks, size, size),
            has_mask=torch.tensor([has for _, _, has in image_objects]))
        samples.append(sample)
        if not isinstance(images, str):
            image = images[index]
        elif images == "noise":
            image = rng.integers(0, 256, (3, size, size), dtype=np.uint8)
        else:
            image = rng.integers(0, 60, (3, size, size), dtype=np.uint8)
            for k, ((x0, y0, x1, y1), _, _) in enumerate(image_objects):
                image[:, y0:y1, x0:x1] = 80 + 60 * k
        inputs.append(torch.from_numpy(image))
    return dict(inputs=inputs, data_samples=samples)


def with_crowd(batch: dict, crowd: str, size: int = 64) -> dict:
    """`batch` (partial_batch's, changed in place and returned) with an ignored (crowd) instance in image 0 over the
    right half of its unseen object 1 (box [20, 16, 60, 60]), packed as mmdet packs crowds, into
    data_sample.ignored_instances: of a seen category with its mask ('seen'), or box-only with the loader's zero
    mask ('unseen-zero') or noise ('unseen-random'; np.random.default_rng(7))."""
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    mask = np.zeros((1, size, size), np.uint8)
    if crowd == "seen":
        mask[0, 16:60, 40:60] = 1
    elif crowd == "unseen-random":
        mask[0] = np.random.default_rng(7).integers(0, 2, (size, size))
    elif crowd != "unseen-zero":
        raise ValueError(f"with_crowd: crowd must be 'seen', 'unseen-zero' or 'unseen-random', got {crowd!r}")
    batch["data_samples"][0].ignored_instances = InstanceData(
        bboxes=torch.tensor([[40.0, 16, 60, 60]]), labels=torch.tensor([0 if crowd == "seen" else 3]),
        masks=BitmapMasks(mask, size, size), has_mask=torch.tensor([crowd == "seen"]))
    return batch


def without_has_mask(batch: dict) -> dict:
    """`batch` (changed in place and returned) as mmdet's stock PackDetInputs packs it: no gt_instances.has_mask."""
    for sample in batch["data_samples"]:
        del sample.gt_instances.has_mask
    return batch


# -------------------------------------------------------------------------------------------------- models
COCO_SETTING = "r50_fpn_coco"
SYNTH_SETTING = "r18-scratch_fpn_synth"


def config_file(config: str | Path) -> Path:
    """`config` as a path: an existing path, a path under configs/, or a file name found once under configs/."""
    for path in (Path(config), CONFIGS / config):
        if path.is_file():
            return path
    found = sorted(CONFIGS.rglob(Path(config).name))
    if len(found) != 1:
        raise FileNotFoundError(f"{config}: {'no' if not found else len(found)} such config under {CONFIGS}")
    return found[0]


def load_config(config: str | Path, mixins: Sequence[str | Path] = ()):
    """The mmengine Config of `config` (a path, a path under configs/ or a file name under configs/) with `mixins`
    (the same) merged over it in order as `tspsis train --mixin` does (tspsis.engine.config.merge_mixin), mmdet's modules
    registered and the backbone's pretrained init_cfg dropped (no ImageNet download in tests)."""
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    from tspsis.engine.config import merge_mixin

    register_all_modules()
    cfg = Config.fromfile(str(config_file(config)))
    for mixin in mixins:
        merge_mixin(cfg, config_file(mixin))
    cfg.model.backbone.init_cfg = None
    return cfg


def config_names(algorithm: str, coco: str = COCO_SETTING) -> set[str]:
    """The leaf config file names of a Table 1 method `algorithm` for every setting (R50 on COCO, setting `coco`; R18
    on the synthetic benchmark) and direction: '{algorithm}_{setting}-{direction}.py'."""
    return {f"{algorithm}_{setting}-{direction}.py" for setting in (coco, SYNTH_SETTING)
            for direction in ("voc2nonvoc", "nonvoc2voc")}


def assert_direction_files(cfg, name: str, train_masks: str | None = "seen") -> None:
    """The config `name` of a direction ('...-voc2nonvoc...': VOC categories seen, or '...-nonvoc2voc...') is
    scored on the manifest of that direction's unseen categories ('..._{seen}.manifest.json'), and trains on
    the split file with the masks of the seen categories only ('..._{seen}.json', train_masks='seen'), on
    another annotation file (train_masks='all') or on any (None)."""
    seen = "voc" if "voc2nonvoc" in name else "nonvoc"
    assert cfg.val_evaluator.manifest.endswith(f"_{seen}.manifest.json")
    assert cfg.test_evaluator.manifest.endswith(f"_{seen}.manifest.json")
    if train_masks is not None:
        assert cfg.train_dataloader.dataset.ann_file.endswith(f"_{seen}.json") == (train_masks == "seen")


def build_model(config, options: dict | None = None, mixins: Sequence[str | Path] = ()) -> torch.nn.Module:
    """The model of `config` (a Config, or a path or name under configs/ with `mixins` merged over it, as in
    load_config) with `options` merged in (Config.merge_from_dict: dotted keys; `_delete_=True` in a dict replaces
    the whole dict), its weights drawn after torch.manual_seed(0). Two-stage models (those with an RPN) get
    FEWER_ROIS."""
    from mmdet.registry import MODELS
    from mmengine.config import Config

    cfg = config if isinstance(config, Config) else load_config(config, mixins)
    cfg.merge_from_dict(options or {})
    if "rpn_head" in cfg.model:
        cfg.merge_from_dict(FEWER_ROIS)
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def losses_and_grads(model, batch: dict, backward: bool | Collection[str] = True) -> tuple[dict, dict]:
    """One training forward with torch.manual_seed(1) (the RoI sampler is random) and a backward through the
    total loss (backward=True), through the sum of the losses named in `backward`, or none (False).

    Returns the losses (per-level lists summed, detached) and the parameters' gradients by name (cloned; only
    the parameters that got one).
    """
    model.train()
    model.zero_grad(set_to_none=True)
    data = model.data_preprocessor(batch, training=True)
    torch.manual_seed(1)
    losses = model(**data, mode="loss")
    if backward is True:
        model.parse_losses(losses)[0].backward()
    elif backward:
        sum(value for key, value in losses.items() if key in backward).backward()
    values = {key: (torch.stack(value).sum() if isinstance(value, list) else value).detach()
              for key, value in losses.items()}
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return values, grads


def train_one_step(model, batch: dict, optim_wrapper: dict) -> tuple[dict, set[str]]:
    """model.train_step on `batch` with an optimizer wrapper built from `optim_wrapper` (mmengine's AMP wrapper
    becomes the plain one without a GPU). Returns the log variables and the names of the parameters it changed."""
    from mmengine.optim import build_optim_wrapper

    if optim_wrapper.get("type") == "AmpOptimWrapper" and not torch.cuda.is_available():
        optim_wrapper = dict(optim_wrapper, type="OptimWrapper")
    model.train()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    log_vars = model.train_step(batch, build_optim_wrapper(model, optim_wrapper))
    changed = {name for name, p in model.named_parameters() if not torch.equal(before[name], p)}
    return log_vars, changed


def predict(model, batch: dict) -> list:
    """The model's DetDataSamples with pred_instances for `batch` (eval mode, no gradients)."""
    model.eval()
    with torch.no_grad():
        return model(**model.data_preprocessor(batch, training=False), mode="predict")


def predict_roi_masks(model, batch: dict, labels: Sequence[int], thr: float | None = None) -> torch.Tensor:
    """(images, 2, H, W) masks that a two-stage model's RoI head predicts for DETECTION_BOXES in every image of
    `batch`, labelled `labels`: probability >= thr (the config's mask_thr_binary if None) or, with thr < 0,
    soft (uint8 probability x 255)."""
    from mmengine.structures import InstanceData

    model.eval()
    if thr is not None:
        model.roi_head.test_cfg.mask_thr_binary = thr
    data = model.data_preprocessor(batch, training=False)
    with torch.no_grad():
        feats = model.extract_feat(data["inputs"])
        detections = [InstanceData(bboxes=torch.tensor(DETECTION_BOXES), labels=torch.tensor(labels),
                                   scores=torch.tensor(DETECTION_SCORES)) for _ in data["data_samples"]]
        results = model.roi_head.predict_mask(feats, [s.metainfo for s in data["data_samples"]], detections,
                                              rescale=True)
    return torch.stack([res.masks for res in results])


def assert_bitwise_equal(first: dict, second: dict) -> None:
    """Same keys, and torch.equal tensors under each (losses or gradients of two runs)."""
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def check_unseen_masks_do_not_leak(model, batch: Callable[..., dict] = partial_batch,
                                   change_seen_mask: Callable[[np.ndarray], np.ndarray] = lambda mask: 1 - mask
                                   ) -> tuple[dict, dict]:
    """Asserts bit-identical losses and gradients (losses_and_grads) whether the box-only objects' masks in
    batch(unseen) hold zeros or noise ('zero', 'random').

    Returns the losses of the zero-mask batch and of that batch with its first seen mask (image 0, object 0)
    replaced by change_seen_mask(mask): the caller shows with them that the comparison is sensitive.
    """
    zero_losses, zero_grads = losses_and_grads(model, batch("zero"))
    random_losses, random_grads = losses_and_grads(model, batch("random"))
    assert_bitwise_equal(zero_losses, random_losses)
    assert_bitwise_equal(zero_grads, random_grads)
    seen_changed = object_masks()
    seen_changed[0][0] = change_seen_mask(seen_changed[0][0])
    changed_losses, _ = losses_and_grads(model, batch(masks=seen_changed))
    return zero_losses, changed_losses


def assert_test_mask_head_is_used(model, test_mask_head: str, thr: float | None = None) -> None:
    """With a teacher-student RoI head's student saying foreground everywhere (conv_logits: weight 0, bias +50)
    and its teacher background (bias -50), predict_roi_masks on the partial batch fills the first detection's
    box exactly (test_mask_head='student') or gives no mask pixel at all ('teacher')."""
    roi_head = model.roi_head
    for mask_head, bias in ((roi_head.mask_head, 50.0), (roi_head.teacher_head, -50.0)):
        torch.nn.init.zeros_(mask_head.conv_logits.weight)
        torch.nn.init.constant_(mask_head.conv_logits.bias, bias)
    batch = partial_batch()
    masks = predict_roi_masks(model, batch, [0, 5], thr)
    height, width = batch["data_samples"][0].ori_shape
    assert masks.shape == (len(batch["inputs"]), 2, height, width) and masks.dtype == torch.bool
    inside = torch.zeros(height, width, dtype=torch.bool)
    inside[4:44, 4:40] = True  # DETECTION_BOXES[0]
    if test_mask_head == "student":
        assert masks[:, 0][:, inside].all() and not masks[:, 0][:, ~inside].any()
    else:
        assert not masks.any()


# -------------------------------------------------------------------------------- the helpers as fixtures
@pytest.fixture(scope="session")
def partial_objects() -> tuple:
    """PARTIAL_OBJECTS: per image, (box xyxy, label, has_mask) of the hand-made partially annotated case."""
    return PARTIAL_OBJECTS


def _as_fixture(function: Callable) -> Callable:
    """A session fixture named like `function` that returns it."""
    def fixture() -> Callable:
        return function
    fixture.__doc__ = function.__doc__
    return pytest.fixture(scope="session", name=function.__name__)(fixture)


# Each helper as a session fixture of its own name (pytest finds fixtures among a conftest's attributes).
for _helper in (object_masks, partial_batch, with_crowd, without_has_mask, load_config, config_names,
                assert_direction_files, build_model, losses_and_grads, train_one_step, predict, predict_roi_masks,
                assert_bitwise_equal, check_unseen_masks_do_not_leak, assert_test_mask_head_is_used):
    globals()[f"{_helper.__name__}_fixture"] = _as_fixture(_helper)
