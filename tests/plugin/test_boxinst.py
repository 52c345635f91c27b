"""Partially supervised BoxInst and BoxInst + teacher-student (tspsis.plugin.dense_heads.boxinst) on CPU.

Checks: the LAB conversion and the data preprocessor against mmdet's BoxInstDataPreprocessor; one training step of
every synthetic BoxInst config; unseen-category masks (crowd ones included) cannot leak into training and seen crowd
masks clean the pseudo masks; a batch without has_mask raises; adding the teacher-student heads leaves every BoxInst
loss (values and gradients) unchanged, the student's loss being the only addition (Sec. 4.3); the pseudo-labeller's
warm-up and weighting reach BoxInst + ours; the head's grid geometry for the student's targets; old options fail
loudly; which head predicts at test time. The configs: tests/repo/test_configs.py.
"""
import math
import types
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mmdet")
import mmdet.models.data_preprocessors.data_preprocessor as mmdet_preprocessors  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from tspsis.plugin.data_preprocessors import boxinst_preprocessor  # noqa: E402
from tspsis.plugin.dense_heads import boxinst  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PSIS = "psis-boxinst_r18-scratch_fpn_synth-voc2nonvoc.py"
TS = "ts-boxinst_r18-scratch_fpn_synth-voc2nonvoc.py"
R = {"thr": (), "crf": ("_base_/ts_variants/boxinst-crf.py",),  # r of Table 5: the leaf is r = threshold,
     "interact": ("_base_/ts_variants/boxinst-interact.py",)}  # the others are mixins
GPU = "_base_/schedules/boxinst-synth-gpu_1xb16-3000it.py"  # the synthetic leaves on one GPU
NUM_CLASSES = 24
SIZE = 64
BOXINST_CONFIGS = sorted(p.name for p in (CONFIGS / "boxinst").glob("*.py"))
# (leaf, mixins): every leaf, "+ ours" with each r, the synthetic ones also sized for one GPU
EXPERIMENTS = [(name, mixins) for name in BOXINST_CONFIGS
               for mixins in (R.values() if name.startswith("ts-") else [()])]
EXPERIMENTS += [(name, (*mixins, GPU)) for name, mixins in EXPERIMENTS if "_synth-" in name]
SYNTHETIC = [(name, mixins) for name, mixins in EXPERIMENTS if "_synth-" in name and GPU not in mixins]


def _id(experiment: tuple) -> str:
    name, mixins = experiment
    return "+".join([name[:-len(".py")], *(Path(m).stem for m in mixins)])


BOXINST_KEYS = {"loss_cls", "loss_bbox", "loss_centerness", "loss_mask_project", "loss_mask_pairwise",
                "loss_mask_seen"}

pytestmark = [pytest.mark.usefixtures("single_thread"), pytest.mark.slow]  # builds and steps models


def labeler(**options) -> dict:
    """build_model options that set these options of "BoxInst + ours"'s PseudoLabeler (mask_head.pseudo_labeler)."""
    return {f"model.mask_head.pseudo_labeler.{key}": value for key, value in options.items()}


@pytest.fixture(autouse=True)
def training_iteration():
    """BoxInst's pairwise term reads the iteration from the MessageHub (past its warm-up here)."""
    hub = MessageHub.get_current_instance()
    before = hub.get_info("iter", 0)
    hub.update_info("iter", 100)
    yield
    hub.update_info("iter", before)


@pytest.fixture(scope="session")
def boxinst_batch(partial_batch):
    """partial_batch with the objects painted on the images (BGR uint8, as loaded): the pairwise term's colour
    edges."""
    def batch(*args, **kwargs) -> dict:
        return partial_batch(*args, images="boxes", **kwargs)
    return batch


# ---------------------------------------------------------------------------------------- preprocessing
def test_rgb_to_lab_reference_colours():
    # CIE L*a*b* (D65) of the sRGB primaries and white, as published (e.g. Lindbloom's calculator).
    colours = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]]).T.reshape(3, 5, 1)
    expected = torch.tensor([[53.24, 80.09, 67.20], [87.73, -86.18, 83.18], [32.30, 79.19, -107.86],
                             [100.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    lab = boxinst_preprocessor.rgb_to_lab(colours).reshape(3, 5).T
    assert torch.allclose(lab, expected, atol=0.02)


def test_preprocessor_matches_mmdet_boxinst(boxinst_batch, monkeypatch):
    """Same box masks and pairwise masks as mmdet's BoxInstDataPreprocessor (given the same LAB conversion)."""
    def rgb2lab(image: np.ndarray) -> np.ndarray:  # skimage's signature: (H, W, 3) uint8 -> (H, W, 3) float
        rgb = torch.from_numpy(image).permute(2, 0, 1).float() / 255
        return boxinst_preprocessor.rgb_to_lab(rgb).permute(1, 2, 0).numpy()

    monkeypatch.setattr(mmdet_preprocessors, "skimage", types.SimpleNamespace(color=types.SimpleNamespace(
        rgb2lab=rgb2lab)))
    common = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                  pad_size_divisor=32, mask_stride=4, pairwise_size=3, pairwise_dilation=2,
                  pairwise_color_thresh=0.3, bottom_pixels_removed=10)
    ours = boxinst_preprocessor.PartialBoxInstDataPreprocessor(**common)
    reference = mmdet_preprocessors.BoxInstDataPreprocessor(**common)
    out = ours(boxinst_batch(size=56), training=True)  # padded to 64: the pad is outside the pairwise term
    ref = reference(boxinst_batch(size=56), training=True)
    assert torch.equal(out["inputs"], ref["inputs"])
    for mine, theirs in zip(out["data_samples"], ref["data_samples"]):
        assert np.array_equal(mine.gt_instances.masks.masks, theirs.gt_instances.masks.masks)
        pairwise = theirs.gt_instances.pairwise_masks
        assert pairwise.sum() > 0 and torch.equal(mine.gt_instances.pairwise_masks, pairwise)


def test_preprocessor_keeps_annotated_masks_and_images(boxinst_batch):
    preprocessor = boxinst_preprocessor.PartialBoxInstDataPreprocessor(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32)
    batch = boxinst_batch(size=56)
    loaded = [s.gt_instances.masks.masks.copy() for s in batch["data_samples"]]
    images = [image.clone() for image in batch["inputs"]]
    out = preprocessor(batch, training=True)
    for sample, masks, image in zip(out["data_samples"], loaded, images):
        annotated = sample.gt_instances.annotated_masks.masks
        assert annotated.shape == (len(masks), 64, 64)
        assert np.array_equal(annotated[:, :56, :56], masks) and not annotated[:, 56:].any()
        rgb = sample.gt_instances.metainfo["rgb_image"]  # loaded BGR -> kept RGB, [0, 255]
        assert torch.allclose(rgb[:, :56, :56], image.flip(0).float(), atol=1e-3)

    for sample in batch["data_samples"]:
        del sample.gt_instances.masks
    with pytest.raises(ValueError, match="LoadPartialAnnotations"):
        preprocessor(batch, training=True)


# -------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("name,mixins", SYNTHETIC, ids=map(_id, SYNTHETIC))
def test_synthetic_config_trains_one_step(load_config, build_model, boxinst_batch, train_one_step, name, mixins):
    cfg = load_config(name, mixins)
    log_vars, changed = train_one_step(build_model(cfg), boxinst_batch(), cfg.optim_wrapper)

    expected = BOXINST_KEYS | ({"loss_mask_student"} if name.startswith("ts-") else set())
    assert expected <= set(log_vars) and "loss_mask" not in log_vars
    assert all(math.isfinite(log_vars[k].item()) for k in expected)
    assert log_vars["loss_mask_seen"] > 0 and log_vars["loss_mask_pairwise"] > 0
    assert any(n.startswith("mask_head.mask_feature_head.") for n in changed)
    assert "bbox_head.controller.weight" in changed  # the teacher's dynamic weights
    if name.startswith("ts-"):
        assert "bbox_head.controller.student.weight" in changed  # the student's


@pytest.mark.parametrize("name,mixins,options", [
    (PSIS, (), None), (TS, R["thr"], None), (TS, R["crf"], None),
    (TS, R["interact"], labeler(weighting="confidence"))], ids=["psis", "ts-thr", "ts-crf", "ts-interact-confidence"])
def test_unseen_masks_do_not_leak(build_model, boxinst_batch, check_unseen_masks_do_not_leak, name, mixins, options):
    # The comparison is sensitive: inverting a *seen* object's mask changes the mask-supervised losses.
    zero_losses, changed_losses = check_unseen_masks_do_not_leak(build_model(name, options, mixins), boxinst_batch)
    supervised = ["loss_mask_seen"] + (["loss_mask_student"] if name.startswith("ts-") else [])
    assert all(not torch.equal(zero_losses[k], changed_losses[k]) for k in supervised)


def test_seen_crowd_masks_clean_pseudo_masks_and_unseen_crowds_do_not_leak(build_model, boxinst_batch, losses_and_grads,
                                                                           assert_bitwise_equal, with_crowd):
    model = build_model(TS)
    plain, _ = losses_and_grads(model, boxinst_batch(), backward=False)
    zero, zero_grads = losses_and_grads(model, with_crowd(boxinst_batch(), "unseen-zero"))
    noisy, noisy_grads = losses_and_grads(model, with_crowd(boxinst_batch(), "unseen-random"))
    assert_bitwise_equal(zero, noisy)
    assert_bitwise_equal(zero_grads, noisy_grads)
    seen, _ = losses_and_grads(model, with_crowd(boxinst_batch(), "seen"), backward=False)
    assert not torch.equal(seen["loss_mask_student"], plain["loss_mask_student"])
    assert torch.equal(seen["loss_mask_seen"], plain["loss_mask_seen"])


@pytest.mark.parametrize("name", [PSIS, TS], ids=["psis", "ts"])
def test_missing_has_mask_raises(build_model, boxinst_batch, losses_and_grads, without_has_mask, name):
    batch = without_has_mask(boxinst_batch())
    with pytest.raises(ValueError, match=r"gt_instances\.has_mask.*PackPartialDetInputs"):
        losses_and_grads(build_model(name), batch, backward=False)
    model = build_model(name, {"model.mask_head.fully_supervised": True})
    losses, _ = losses_and_grads(model, batch, backward=False)  # every instance counts as mask-annotated
    assert losses["loss_mask_seen"] > 0


@pytest.mark.parametrize("warmup_iters", [0, 1000])
def test_warmup_keeps_the_teacher_out_of_the_student_loss(build_model, boxinst_batch, losses_and_grads,
                                                         warmup_iters):
    """BoxInst + ours takes the pseudo-labeller's warm-up: at iteration 100 < 1000 another teacher (its dynamic
    weights from BoxInst's controller) leaves L_segS unchanged, after the warm-up it does not."""
    model = build_model(TS, labeler(warmup_iters=warmup_iters))
    before, _ = losses_and_grads(model, boxinst_batch(), backward=False)
    with torch.no_grad():
        model.bbox_head.controller.bias.add_(0.5)  # the teacher's rows only; the student's are controller.student
    after, _ = losses_and_grads(model, boxinst_batch(), backward=False)
    assert not torch.equal(before["loss_mask_seen"], after["loss_mask_seen"])
    assert torch.equal(before["loss_mask_student"], after["loss_mask_student"]) == (warmup_iters > 0)


def test_confidence_weighting_changes_the_student_loss_only(build_model, boxinst_batch, losses_and_grads):
    plain, _ = losses_and_grads(build_model(TS), boxinst_batch(), backward=False)
    weighted, _ = losses_and_grads(build_model(TS, labeler(weighting="confidence")), boxinst_batch(), backward=False)
    assert set(plain) == set(weighted)
    for key in plain:
        assert torch.equal(plain[key], weighted[key]) == (key != "loss_mask_student"), key


@pytest.mark.parametrize("old, new", [("pseudo_mask", "post_process"), ("clean_pseudo", "clean"),
                                      ("pseudo_warmup_iters", "warmup_iters"), ("pseudo_weighting", "weighting")])
def test_old_options_fail_loudly_naming_the_new_key(build_model, old, new):
    with pytest.raises(TypeError, match=rf"`{old}` -> `pseudo_labeler\.{new}`"):
        build_model(TS, {f"model.mask_head.{old}": dict(type="threshold") if old == "pseudo_mask" else 1})


@pytest.mark.parametrize("r", ["thr", "interact", "crf"])
def test_teacher_student_leaves_boxinst_losses_unchanged(build_model, boxinst_batch, losses_and_grads, r):
    """Sec. 4.3: same weights, seed and inputs -> every BoxInst loss and its gradients are identical with the
    teacher-student heads added; the student's loss is the only new one."""
    teacher_student = build_model(TS, mixins=R[r])
    baseline = build_model(PSIS)
    missing, unexpected = baseline.load_state_dict(teacher_student.state_dict(), strict=False)
    assert not missing and set(unexpected) == {"bbox_head.controller.student.weight",
                                                "bbox_head.controller.student.bias"}

    base_losses, base_grads = losses_and_grads(baseline, boxinst_batch())
    ts_losses, ts_grads = losses_and_grads(teacher_student, boxinst_batch(), backward=BOXINST_KEYS)
    assert set(base_losses) == BOXINST_KEYS and set(ts_losses) == BOXINST_KEYS | {"loss_mask_student"}
    for key in BOXINST_KEYS:
        assert torch.equal(base_losses[key], ts_losses[key]), key
    assert base_grads.keys() <= ts_grads.keys()
    for param, grad in base_grads.items():
        assert torch.equal(grad, ts_grads[param]), param


def test_student_loss_trains_the_student_not_the_teacher_head(build_model, boxinst_batch, losses_and_grads):
    model = build_model(TS)
    _, grads = losses_and_grads(model, boxinst_batch(), backward={"loss_mask_student"})
    assert torch.count_nonzero(grads["bbox_head.controller.student.weight"]) > 0
    teacher_rows = grads.get("bbox_head.controller.weight")
    assert teacher_rows is None or torch.count_nonzero(teacher_rows) == 0  # pseudo masks carry no gradient


# ------------------------------------------------------------------------------------- student targets
def selected_case() -> boxinst.SelectedPositives:
    """A 16x16 stride-4 grid (a 64x64 image); grid cell c stands for pixel 4c + 2. Positive 0: a seen object
    (label 2) whose mask is the top-left 8x8 cells; positive 1: an unseen object (label 5), box [16, 16, 48, 48]
    (cells 4..11)."""
    gt_masks = torch.zeros(2, 16, 16)
    gt_masks[0, :8, :8] = 1
    return boxinst.SelectedPositives(
        index=torch.tensor([0, 1]), labels=torch.tensor([2, 5]), has_mask=torch.tensor([True, False]),
        gt_masks=gt_masks, gt_boxes=torch.tensor([[0.0, 0, 32, 32], [16, 16, 48, 48]]),
        seen_union=gt_masks[0].bool())


def test_student_targets_threshold_and_cleaning(build_model):
    """The head hands the pseudo-labeller the stride grid in cells: the box [16, 16, 48, 48] is cells 4..11."""
    head = build_model(TS).mask_head
    sel = selected_case()
    teacher = torch.full((2, 16, 16), 20.0)  # Mt = 1 everywhere
    targets, weights = head.student_targets(teacher, torch.zeros(2, 16, 16), sel, InstanceData())
    assert torch.equal(targets[0], sel.gt_masks[0]) and weights.tolist() == [1.0, 1.0]  # seen: the ground truth
    expected = torch.zeros(16, 16)
    expected[4:12, 4:12] = 1  # inside the box...
    expected[4:8, 4:8] = 0  # ...and outside the seen mask
    assert torch.equal(targets[1], expected)

    head.pseudo_labeler.clean = False
    assert torch.equal(head.student_targets(teacher, torch.zeros(2, 16, 16), sel, InstanceData())[0][1],
                       torch.ones(16, 16))


def test_student_targets_crf_stay_in_the_box(build_model):
    head = build_model(TS, mixins=R["crf"]).mask_head
    sel = selected_case()
    teacher = torch.full((2, 16, 16), -20.0)
    teacher[1, 4:12, 4:12] = 20.0  # the teacher is sure of the unseen object's box
    image = torch.full((3, 64, 64), 100.0)  # a textureless image: the CRF keeps a confident unary
    gt = InstanceData(metainfo=dict(rgb_image=image))
    targets, _ = head.student_targets(teacher, torch.zeros(2, 16, 16), sel, gt)
    expected = torch.zeros(16, 16)
    expected[4:12, 4:12] = 1
    expected[4:8, 4:8] = 0  # cleaned: the seen object's mask
    assert torch.equal(targets[1], expected)
    with pytest.raises(ValueError, match="PartialBoxInstDataPreprocessor"):
        head.student_targets(teacher, torch.zeros(2, 16, 16), sel, InstanceData())


def test_student_params_pick_channel_l_in_boxinst_layout(build_model):
    head = build_model(TS).mask_head
    assert head.num_params == 593 and head.student_num_params == 576 + 17 * NUM_CLASSES
    params = torch.arange(head.student_num_params, dtype=torch.float32)[None].repeat(2, 1)
    picked = head.student_params_for_labels(params, torch.tensor([0, 3]))
    assert picked.shape == (2, 593)
    # BoxInst's layout: weights of layers 1-3 (288, 256, 16), then biases (16, 16, 1).
    hidden_w, hidden_b = 288 + 256, 16 + 16
    last_w = hidden_w + hidden_b  # the student's C x 16 last-layer weights start here...
    last_b = last_w + 16 * NUM_CLASSES  # ...and its C biases here
    for row, label in enumerate([0, 3]):
        assert torch.equal(picked[row, :hidden_w], params[row, :hidden_w])
        channel_l = slice(last_w + 16 * label, last_w + 16 * label + 16)
        assert torch.equal(picked[row, hidden_w:hidden_w + 16], params[row, channel_l])
        assert torch.equal(picked[row, hidden_w + 16:592], params[row, hidden_w:hidden_w + hidden_b])
        assert picked[row, 592] == params[row, last_b + label]


def test_wrong_student_num_params_names_the_fix(build_model, boxinst_batch, losses_and_grads):
    model = build_model(TS, {"model.bbox_head.student_num_params": 100})
    with pytest.raises(ValueError, match=f"student_num_params={576 + 17 * NUM_CLASSES}"):
        losses_and_grads(model, boxinst_batch())


@pytest.mark.parametrize("bad, field", [
    ({"model.mask_head.pseudo_labeler.post_process.type": "grabcut"}, "post_process.type"),
    ({"model.mask_head.test_mask_head": "both"}, "test_mask_head"),
])
def test_bad_options_name_the_field(build_model, bad, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        build_model(TS, bad)


# ------------------------------------------------------------------------------------------- inference
@pytest.mark.parametrize("test_mask_head", ["student", "teacher"])
def test_inference_uses_the_chosen_head(build_model, boxinst_batch, test_mask_head):
    model = build_model(TS, {"model.mask_head.test_mask_head": test_mask_head})
    model.eval()
    head = model.mask_head
    data = model.data_preprocessor(boxinst_batch(), training=False)
    feats = model.extract_feat(data["inputs"])
    # Dynamic weights all zero but the last biases: the teacher says "background" everywhere (-50), the student
    # "foreground" (+50) in every class channel.
    params = torch.zeros(2, head.num_params + head.student_num_params)
    params[:, head.num_params - 1] = -50.0
    params[:, -NUM_CLASSES:] = 50.0
    results = [InstanceData(bboxes=torch.tensor([[4.0, 4, 40, 44], [20, 16, 60, 60]]), labels=torch.tensor([0, 5]),
                            scores=torch.tensor([0.9, 0.8]), param_preds=params.clone(),
                            points=torch.tensor([[20.0, 20], [40, 36]]), strides=torch.tensor([8.0, 8]))
               for _ in data["data_samples"]]
    with torch.no_grad():
        results = head.predict(feats, data["data_samples"], rescale=True, results_list=results)
    for res in results:
        assert res.masks.shape == (2, SIZE, SIZE) and res.masks.dtype == torch.bool
        assert bool(res.masks.all()) == (test_mask_head == "student")
        assert bool(res.masks.any()) == (test_mask_head == "student")


@pytest.mark.parametrize("name", [PSIS, TS], ids=["psis", "ts"])
def test_full_predict_gives_image_sized_masks(build_model, boxinst_batch, predict, name):
    for out in predict(build_model(name), boxinst_batch(size=56)):
        pred = out.pred_instances
        assert len(pred.bboxes) > 0  # an untrained head scores ~0.5 everywhere
        assert pred.masks.shape == (len(pred.bboxes), 56, 56) and pred.masks.dtype == torch.bool
        assert pred.labels.max() < NUM_CLASSES and len(pred.bboxes) <= 150
