"""Config names say what runs (issue 17): leaves named for what is invariant, the sizing mixins for their schedule,
and one function, ``tspsis.engine.config.composed_name``, naming what trains (run folder, dumped config, metafiles); the
box-conditioned track lives in its mixin only (``tspsis.apis.box_conditioned`` merges that file)."""
import copy
import importlib.util
import re
from pathlib import Path

from mmengine.config import Config

from tspsis import lab as experiments
from tspsis.apis import BOX_TRACK_MIXIN, box_conditioned
from tspsis.engine.config import composed_name, load_config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
LEAF = CONFIGS / "mask_rcnn" / "psis-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"
TRACK = CONFIGS / BOX_TRACK_MIXIN


def test_composed_name_is_leaf_then_mixins_in_order_then_iterations():
    mixins = [CONFIGS / "_base_/tracks/box-conditioned.py", CONFIGS / "_base_/schedules/box-cpu_1xb16.py"]
    assert composed_name(LEAF) == LEAF.stem
    assert composed_name(LEAF, mixins) == f"{LEAF.stem}+box-conditioned+box-cpu_1xb16"
    assert composed_name(str(LEAF), [str(m) for m in mixins], 500) == f"{LEAF.stem}+box-conditioned+box-cpu_1xb16+500it"


def test_the_demo_row_is_named_for_what_trains():
    spec = experiments.config("Mask R-CNN + ours", "voc2nonvoc", "demo")
    assert spec.name == ("ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc+box-conditioned+box-cpu_1xb16+warmup-half+"
                         "logits-lr")
    cfg = load_config(str(spec.leaf), "WORK_DIR", [], None, experiments.PROFILES["demo"].schedule.max_iters,
                      mixins=[str(m) for m in spec.mixins])
    # what the name says: 1 process x 16 images (box-cpu_1xb16), 500 iterations (+500it), given-box RoIs
    assert cfg.train_dataloader.batch_size == 16 and cfg.train_cfg.max_iters == 500
    assert cfg.model.rpn_head.type == "GroundTruthProposals"


def test_leaf_names_carry_no_schedule_and_sizing_mixins_carry_mmdet_tokens():
    leaves = [p for p in CONFIGS.rglob("*.py") if "_base_" not in p.parts]
    assert leaves and not [p.name for p in leaves if re.search(r"\d+xb\d+|\d+it\b|-1x_|ms-90k", p.stem)]
    sizing = {p.name for p in (CONFIGS / "_base_" / "schedules").glob("*.py") if not p.name.startswith("schedule")}
    assert sizing == {"cpu_1xb16.py", "box-cpu_1xb16.py", "detector-cpu_1xb16.py", "boxinst-cpu_1xb16.py",
                      "synth-gpu_1xb16-3000it.py", "boxinst-synth-gpu_1xb16-3000it.py"}
    gpu = Config.fromfile(str(CONFIGS / "_base_/schedules/synth-gpu_1xb16-3000it.py"))
    assert gpu.train_dataloader.batch_size == 16 and gpu.train_cfg.max_iters == 3000
    for cpu in ("box-cpu_1xb16.py", "detector-cpu_1xb16.py", "boxinst-cpu_1xb16.py"):  # the shared base's batch
        assert Config.fromfile(str(CONFIGS / "_base_/schedules" / cpu)).train_dataloader.batch_size == 16


def test_metafiles_list_the_composed_names_of_the_registry():
    spec = importlib.util.spec_from_file_location("metafile_runs", REPO / "scripts" / "metafile_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run python scripts/metafile_runs.py"
    text = (CONFIGS / "mask_rcnn_ts" / "metafile.yml").read_text()
    assert ("'Mask R-CNN + ours, demo': 'ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc+box-conditioned+"
            "box-cpu_1xb16+warmup-half+logits-lr+500it'") in text


def _flat(node, prefix=""):
    if isinstance(node, dict) and not node.get("_delete_"):
        for key, value in node.items():
            yield from _flat(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, {k: v for k, v in node.items() if k != "_delete_"} if isinstance(node, dict) else node


def _get(cfg, path):
    for key in path.split("."):
        cfg = cfg[key]
    return cfg


def test_predict_applies_the_box_conditioned_track_by_its_mixin():
    """--boxes: the config predict builds is the leaf with the track's mixin merged, key for key what the
    experiments' box-conditioned runs get (the keys live in configs/_base_/tracks/box-conditioned.py only)."""
    predicted = box_conditioned(Config.fromfile(str(LEAF)))
    tracked = load_config(str(LEAF), "WORK_DIR", [], mixins=[str(TRACK)])
    assert predicted.model == tracked.model
    for path, value in _flat(Config.fromfile(str(TRACK)).to_dict()):
        assert _get(predicted, path) == value, path
    assert predicted.model.rpn_head.type == "GroundTruthProposals" and predicted.model.test_cfg.rcnn.given_boxes
    # a box-conditioned config (a run of the track, its CPU sizing on top) predicts as it was tested
    spec = experiments.config("Mask R-CNN", "voc2nonvoc", "demo")
    run_cfg = load_config(str(spec.leaf), "WORK_DIR", [], mixins=[str(m) for m in spec.mixins])
    assert box_conditioned(copy.deepcopy(run_cfg)).model == run_cfg.model
    for module in [REPO / "tspsis" / "cli" / "predict.py", *(REPO / "tspsis" / "apis").glob("*.py")]:
        source = module.read_text()
        assert "given_boxes = True" not in source and 'dict(type="GroundTruthProposals")' not in source, module
