"""OPMask and OPMask + teacher-student (tspsis.models.opmask) in a tiny R18-FPN model on CPU.

Checks: Eq. 8 is the spatial mean of Eq. 9 in the CAM box head; the object mask prior on a hand-made map;
the mask loss sees the CAM of the object's class only and never the masks of unseen objects; OPMask +
teacher-student leaves every OPMask loss unchanged and adds the student loss (Sec. 4.3); inference uses
the predicted labels and the chosen mask head; the configs build and the synthetic ones train a step.
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

from tspsis.models.opmask import CAMBBoxHead, object_mask_prior  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
OPMASK = CONFIGS / "_base_/models/opmask_r18_fpn_scratch.py"
TS_OPMASK = CONFIGS / "_base_/models/ts-opmask_r18_fpn_scratch.py"
NUM_CLASSES = 24
SIZE = 64
# (box xyxy, label, has_mask) per image: seen and unseen objects that overlap each other.
OBJECTS = [
    [([4, 4, 40, 44], 0, True), ([20, 16, 60, 60], 5, False), ([30, 2, 62, 28], 7, True)],
    [([8, 10, 56, 50], 3, False), ([2, 30, 30, 62], 11, True)],
]

pytestmark = pytest.mark.usefixtures("single_thread")


def build_model(base: Path = OPMASK, **roi_head):
    """The CPU-sized model of `base` with RoI sampling cut down for speed."""
    register_all_modules()
    cfg = Config.fromfile(str(base))
    cfg.merge_from_dict({"model.roi_head": roi_head, "model.train_cfg.rcnn.sampler.num": 32,
                         "model.train_cfg.rpn_proposal.max_per_img": 64, "model.test_cfg.rpn.max_per_img": 64})
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def make_batch(unseen: str = "zero") -> dict:
    """Seen objects' masks are ellipses in their boxes; unseen (box-only) ones hold zeros or noise."""
    rng, noise = np.random.default_rng(0), np.random.default_rng(1)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    inputs, samples = [], []
    for objects in OBJECTS:
        masks = np.zeros((len(objects), SIZE, SIZE), np.uint8)
        for i, ((x0, y0, x1, y1), _, has_mask) in enumerate(objects):
            if has_mask:
                cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
                masks[i] = ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1
            elif unseen == "random":
                masks[i] = noise.integers(0, 2, (SIZE, SIZE))
        sample = DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE), scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([box for box, _, _ in objects], dtype=torch.float32),
            labels=torch.tensor([label for _, label, _ in objects]), masks=BitmapMasks(masks, SIZE, SIZE),
            has_mask=torch.tensor([has for _, _, has in objects]))
        samples.append(sample)
        inputs.append(torch.from_numpy(rng.integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8)))
    return dict(inputs=inputs, data_samples=samples)


def losses_of(model, batch: dict, backward: bool = False) -> dict:
    """One training forward with a fixed seed (the RoI sampler is random)."""
    model.train()
    model.zero_grad(set_to_none=True)
    data = model.data_preprocessor(batch, training=True)
    torch.manual_seed(1)
    losses = model(**data, mode="loss")
    if backward:
        model.parse_losses(losses)[0].backward()
    return {k: torch.stack(v).sum() if isinstance(v, list) else v for k, v in losses.items()}


# ----------------------------------------------------------------------------------- CAM box head
def cam_box_head() -> CAMBBoxHead:
    register_all_modules()
    torch.manual_seed(0)
    return MODELS.build(dict(type="CAMBBoxHead", num_convs=2, in_channels=8, conv_out_channels=16,
                             roi_feat_size=7, num_classes=5))


def test_box_head_logits_are_the_spatial_mean_of_its_cam():
    head = cam_box_head()
    x = torch.randn(3, 8, 7, 7)
    cls_score, bbox_pred = head(x)
    assert cls_score.shape == (3, 6) and bbox_pred.shape == (3, 4 * 5)
    cams = head.class_activation_maps(head.features(x))  # Eq. 9, (3, 5, 7, 7)
    assert cams.shape == (3, 5, 7, 7)
    torch.testing.assert_close(cams.mean(dim=(2, 3)), cls_score[:, :5], rtol=1e-5, atol=1e-5)  # Eq. 8


def test_cam_for_labels_picks_the_class_and_detaches_the_classifier():
    head = cam_box_head()
    feats = head.features(torch.randn(3, 8, 7, 7))
    labels = torch.tensor([4, 0, 2])
    cams = head.cam_for_labels(feats, labels)
    torch.testing.assert_close(cams[:, 0], head.class_activation_maps(feats)[torch.arange(3), labels])
    cams.sum().backward()
    assert head.fc_cls.weight.grad is None  # OPMask: W_cls is detached for the CAM
    assert head.shared_convs[0].conv.weight.grad.abs().sum() > 0  # F is not


def test_box_head_rejects_fc_layers():
    register_all_modules()
    with pytest.raises(ValueError, match="num_shared_fcs"):
        MODELS.build(dict(type="CAMBBoxHead", num_shared_fcs=1, in_channels=8, num_classes=5))


def test_object_mask_prior_by_hand():
    cams = torch.tensor([[[[0.0, 2.0], [4.0, 8.0]]], [[[3.0, 3.0], [3.0, 3.0]]]])
    prior = object_mask_prior(cams, (4, 4))
    # min-max: [[0, .25], [.5, 1]]; 2 -> 4 bilinear (half-pixel centres): a, .75a + .25b, .25a + .75b, b
    up = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    expected = up @ torch.tensor([[0.0, 0.25], [0.5, 1.0]]) @ up.t()
    torch.testing.assert_close(prior[0, 0], expected)
    assert torch.equal(prior[1], torch.zeros(1, 4, 4))  # a constant map carries no prior


# ------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("base", [OPMASK, TS_OPMASK], ids=["opmask", "ts-opmask"])
def test_unseen_masks_do_not_leak(base):
    model = build_model(base)
    zero = losses_of(model, make_batch("zero"))
    noisy = losses_of(model, make_batch("random"))
    assert zero.keys() == noisy.keys()
    assert all(torch.equal(zero[k], noisy[k]) for k in zero)
    assert all(math.isfinite(v.item()) for k, v in zero.items() if k.startswith("loss"))


def test_mask_loss_sees_the_cam_of_the_objects_class_only():
    model = build_model()
    fc_cls = model.roi_head.bbox_head.fc_cls
    reference = losses_of(model, make_batch())["loss_mask"]
    present = sorted({label for objects in OBJECTS for _, label, _ in objects})
    absent = [c for c in range(NUM_CLASSES) if c not in present]
    with torch.no_grad():
        fc_cls.weight[absent] = torch.randn(len(absent), fc_cls.in_features)
    assert torch.equal(losses_of(model, make_batch())["loss_mask"], reference)
    with torch.no_grad():
        fc_cls.weight[present] = torch.randn(len(present), fc_cls.in_features)
    assert not torch.equal(losses_of(model, make_batch())["loss_mask"], reference)


def test_teacher_student_adds_only_the_student_loss():
    """Sec. 4.3: with the same weights, seed and batch every OPMask loss is unchanged."""
    opmask = build_model(OPMASK)
    ts = build_model(TS_OPMASK)
    state = ts.state_dict()
    for name, value in opmask.state_dict().items():  # OPMask's mask head is the teacher
        state[name.replace("roi_head.mask_head.", "roi_head.teacher_head.")] = value
    ts.load_state_dict(state)
    ours, theirs = losses_of(ts, make_batch()), losses_of(opmask, make_batch())
    assert set(ours) == set(theirs) - {"loss_mask"} | {"loss_mask_teacher", "loss_mask_student"}
    for key, value in theirs.items():
        assert torch.equal(ours["loss_mask_teacher" if key == "loss_mask" else key], value), key
    assert ours["loss_mask_student"] > 0


def test_mask_loss_trains_the_box_convs_not_the_classifier():
    model = build_model()
    model.train()
    data = model.data_preprocessor(make_batch(), training=True)
    torch.manual_seed(1)
    model(**data, mode="loss")["loss_mask"].backward()
    bbox_head = model.roi_head.bbox_head
    assert bbox_head.fc_cls.weight.grad is None
    assert bbox_head.shared_convs[-1].conv.weight.grad.abs().sum() > 0


def test_requires_the_cam_box_head():
    with pytest.raises(ValueError, match="bbox_head.type"):  # Mask R-CNN's fc box head has no CAM
        build_model(CONFIGS / "_base_/models/mask-rcnn_r18_fpn_scratch.py", type="OPMaskRoIHead")


# ------------------------------------------------------------------------------------ inference
def predict_masks(model, labels: list, thr: float = -1) -> torch.Tensor:
    """Masks of two fixed boxes per image with the given labels: probability >= thr, or, with thr < 0,
    soft (uint8 probability x 255)."""
    model.eval()
    model.roi_head.test_cfg.mask_thr_binary = thr
    data = model.data_preprocessor(make_batch(), training=False)
    with torch.no_grad():
        feats = model.extract_feat(data["inputs"])
        results = [InstanceData(bboxes=torch.tensor([[4.0, 4, 40, 44], [20, 16, 60, 60]]),
                                labels=torch.tensor(labels), scores=torch.tensor([0.9, 0.8]))
                   for _ in data["data_samples"]]
        results = model.roi_head.predict_mask(feats, [s.metainfo for s in data["data_samples"]], results,
                                              rescale=True)
    return torch.stack([res.masks for res in results])


def test_inference_uses_the_predicted_labels():
    model = build_model()
    masks = predict_masks(model, [0, 5])
    assert masks.shape == (2, 2, SIZE, SIZE)
    relabelled = predict_masks(model, [3, 5])
    assert not torch.equal(masks[:, 0], relabelled[:, 0])  # another class, another CAM prior
    assert torch.equal(masks[:, 1], relabelled[:, 1])


@pytest.mark.parametrize("test_mask_head", ["student", "teacher"])
def test_teacher_student_inference_uses_the_chosen_head(test_mask_head):
    model = build_model(TS_OPMASK, test_mask_head=test_mask_head)
    head = model.roi_head
    for mask_head, bias in ((head.mask_head, 50.0), (head.teacher_head, -50.0)):
        torch.nn.init.zeros_(mask_head.conv_logits.weight)
        torch.nn.init.constant_(mask_head.conv_logits.bias, bias)
    masks = predict_masks(model, [0, 5], thr=0.5)
    inside = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    inside[4:44, 4:40] = True
    if test_mask_head == "student":
        assert masks[:, 0][:, inside].all() and not masks[:, 0][:, ~inside].any()
    else:
        assert not masks.any()


def test_full_predict_gives_image_sized_masks():
    model = build_model()
    model.eval()
    with torch.no_grad():
        outputs = model(**model.data_preprocessor(make_batch(), training=False), mode="predict")
    for out in outputs:
        pred = out.pred_instances
        assert pred.masks.shape == (len(pred.bboxes), SIZE, SIZE) and pred.masks.dtype == torch.bool


# -------------------------------------------------------------------------------------- configs
NAMES = sorted(p.name for p in CONFIGS.glob("*.py") if p.name.startswith(("opmask_", "ts-opmask_")))


def test_every_setting_and_direction_has_a_config():
    settings = ("r50_fpn_1x_coco", "r18_fpn_cpu_synth", "r18_fpn_gpu_synth")
    expected = {f"{algo}_{setting}-{direction}{'_thr' if algo == 'ts-opmask' else ''}.py"
                for algo in ("opmask", "ts-opmask") for setting in settings
                for direction in ("voc2nonvoc", "nonvoc2voc")}
    assert set(NAMES) == expected


@pytest.mark.parametrize("name", NAMES)
def test_config_builds_and_trains(name):
    register_all_modules()
    cfg = Config.fromfile(str(CONFIGS / name))
    cfg.model.backbone.init_cfg = None  # no ImageNet download in tests
    seen = "voc" if "-voc2nonvoc" in name else "nonvoc"
    assert cfg.train_dataloader.dataset.ann_file.endswith(f"_{seen}.json")  # masks of seen categories only
    assert cfg.val_evaluator.manifest.endswith(f"_{seen}.manifest.json")
    roi_head = cfg.model.roi_head
    assert roi_head.type == ("TeacherStudentOPMaskRoIHead" if name.startswith("ts-") else "OPMaskRoIHead")
    assert roi_head.bbox_head.type == "CAMBBoxHead" and roi_head.mask_head.num_convs == 7  # OPMask's heads
    assert roi_head.mask_head.class_agnostic == (not name.startswith("ts-"))
    if "_coco-" in name:
        assert roi_head.bbox_head.conv_out_channels == 256 and roi_head.bbox_head.num_classes == 80
        assert cfg.optim_wrapper.clip_grad == dict(type="value", clip_value=1.0)
        assert MODELS.build(cfg.model).roi_head.bbox_head.features(torch.zeros(1, 256, 7, 7)).shape == (1, 256, 7, 7)
        return
    cfg.merge_from_dict({"model.train_cfg.rpn_proposal.max_per_img": 64, "model.train_cfg.rcnn.sampler.num": 32,
                         "optim_wrapper.type": "OptimWrapper"})  # AMP needs a GPU
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    log_vars = model.train_step(make_batch(), build_optim_wrapper(model, cfg.optim_wrapper))
    assert math.isfinite(log_vars["loss"].item())
    changed = {n.split(".")[1] for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    assert {"bbox_head", "mask_head"} <= changed
    assert ("teacher_head" in changed) == name.startswith("ts-")
