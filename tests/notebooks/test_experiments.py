"""tspsis.experiments: the method registry, data preparation with every split, and the run cache key (resolved
without training)."""
import json
import shutil

import pytest

from tspsis import experiments, paper
from tspsis.launch import Run

CORE = ("Mask R-CNN", "Mask R-CNN + ours", "Oracle")
VARIANTS = ("ts: no post-processing", "ts: CRF", "ts: interact", "ts: high-res teacher", "ts: deeper teacher")


@pytest.fixture(scope="module")
def data(tiny_synth, tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-experiments")
    shutil.copytree(tiny_synth, root, dirs_exist_ok=True)
    return experiments.prepare_data("tiny", root)


def test_registry_rows_are_the_papers_and_the_core_rows_exist_for_every_profile():
    table1_rows = [m for m in experiments.METHODS if ": " not in m]  # variants are "<row>: <change>"
    assert table1_rows == list(paper.TABLE1["R50-FPN"])  # the paper's rows, in its order
    for profile in experiments.PROFILES:
        for direction in experiments.DIRECTIONS:
            for method in CORE + VARIANTS:
                assert experiments.available(method, direction, profile), (method, direction, profile)
    with pytest.raises(ValueError, match="unknown method"):
        experiments.config_path("nope", "voc2nonvoc", "demo")
    with pytest.raises(ValueError, match="direction"):
        experiments.config_path("Oracle", "voc2voc", "demo")


@pytest.mark.parametrize("profile", experiments.PROFILES)
def test_every_method_a_profile_trains_has_its_config(profile):
    schedule = experiments.SCHEDULES[profile]
    assert set(schedule.seen_split_methods) <= set(experiments.METHODS)
    for method, directions in (schedule.methods or {}).items():
        assert method in experiments.METHODS and set(directions) <= set(experiments.DIRECTIONS)
        for direction in directions:
            assert experiments.available(method, direction, profile), (method, direction, profile)


def test_demo_trains_every_table1_row_voc2nonvoc_and_says_why_a_row_is_missing(tmp_path):
    ctx = experiments.Context("03", "demo", tmp_path, tmp_path, tmp_path, 0, 0, {})
    for method in paper.TABLE1["R50-FPN"]:
        assert ctx.available(method, "voc2nonvoc"), method
    assert ctx.available("Mask R-CNN + ours", "nonvoc2voc") and not ctx.available("OPMask", "nonvoc2voc")
    assert "not trained in the demo profile" in ctx.why_not("OPMask", "nonvoc2voc")
    assert experiments.Context("03", "full", tmp_path, tmp_path, tmp_path, 0, 0, {}).available("OPMask", "nonvoc2voc")


def test_measure_notes_each_direction_apart(tmp_path, monkeypatch):
    ctx = experiments.Context("03", "demo", tmp_path, tmp_path, tmp_path, 0, 0, {})
    trained = []

    def fake_run_all(requests):
        trained.extend(requests)
        return [type("FakeRun", (), {"metrics": {"segm": {"unseen": {"AP": 1.0 + i}}}})() for i, _ in
                enumerate(requests)]

    monkeypatch.setattr(ctx, "run_all", fake_run_all)
    measured, notes = ctx.measure(["Mask R-CNN", "OPMask"], experiments.DIRECTIONS)
    assert trained == [("Mask R-CNN", "voc2nonvoc"), ("OPMask", "voc2nonvoc"), ("Mask R-CNN", "nonvoc2voc")]
    assert measured == {"voc2nonvoc": {"Mask R-CNN": {"AP": 1.0}, "OPMask": {"AP": 2.0}},
                        "nonvoc2voc": {"Mask R-CNN": {"AP": 3.0}}}
    assert notes["voc2nonvoc"] == {} and list(notes["nonvoc2voc"]) == ["OPMask"]


def test_prepare_data_writes_every_split(data):
    assert set(data["splits"]) == {"voc", "nonvoc", "first-6"}
    seen = {spec: json.loads(p["manifest"].read_text())["seen_category_ids"] for spec, p in data["splits"].items()}
    assert len(seen["voc"]) == 6 and len(seen["nonvoc"]) == 18 and len(seen["first-6"]) == 12
    assert set(seen["voc"]) < set(seen["first-6"])
    first6 = json.loads(data["splits"]["first-6"]["ann"].read_text())
    unseen = set(json.loads(data["splits"]["first-6"]["manifest"].read_text())["unseen_category_ids"])
    assert all(("segmentation" in a) == (a["category_id"] not in unseen) for a in first6["annotations"])
    mtime = data["splits"]["voc"]["ann"].stat().st_mtime_ns
    experiments.prepare_data("tiny", data["root"])  # up to date: nothing rewritten
    assert data["splits"]["voc"]["ann"].stat().st_mtime_ns == mtime


def _resolve(data, tmp_path, method="Mask R-CNN + ours", **kwargs):
    return experiments.resolve(method, "voc2nonvoc", profile="tiny", data_root=data["root"],
                               work_dir=tmp_path, **kwargs)


def test_cache_key_follows_everything_that_changes_the_run(data, tmp_path):
    base = _resolve(data, tmp_path)
    assert base == _resolve(data, tmp_path)  # deterministic
    assert base.work_dir == tmp_path.resolve() / f"ts-mask-rcnn_r18-scratch_fpn_1xb4-300it_synth-voc2nonvoc-{base.key}"
    assert base.max_iters == experiments.SCHEDULES["tiny"].max_iters
    others = [_resolve(data, tmp_path, max_iters=3), _resolve(data, tmp_path, seen="first-6"),
              _resolve(data, tmp_path, cfg_options=["model.roi_head.pseudo_labeler.post_process.thr=0.6"]),
              _resolve(data, tmp_path, gpus=2), _resolve(data, tmp_path, method="Mask R-CNN"),
              _resolve(data, tmp_path, method="ts: CRF"), _resolve(data, tmp_path, track="box_conditioned")]
    assert len({base.key, *(o.key for o in others)}) == 1 + len(others)
    assert _resolve(data, tmp_path, seen="voc").key == base.key  # the direction's own split is the same run


def test_cache_key_changes_when_a_base_config_or_a_mixin_changes(data, tmp_path, monkeypatch):
    configs = tmp_path / "configs"
    shutil.copytree(experiments.CONFIGS, configs)
    monkeypatch.setattr(experiments, "CONFIGS", configs)
    before = _resolve(data, tmp_path)
    schedule = configs / "_base_" / "schedules" / "schedule_synth_cpu.py"
    schedule.write_text(schedule.read_text().replace("lr=0.01", "lr=0.005"))
    assert _resolve(data, tmp_path).key != before.key
    crf = _resolve(data, tmp_path, method="ts: CRF")
    variant = configs / "_base_" / "ts_variants" / "crf.py"
    variant.write_text(variant.read_text().replace("crf_backend='torch'", "crf_backend='pydensecrf'"))
    assert _resolve(data, tmp_path, method="ts: CRF").key != crf.key


def test_a_run_is_its_leaf_config_and_mixins_in_order(data, tmp_path):
    crf = _resolve(data, tmp_path, method="ts: CRF")
    leaf = "mask_rcnn_ts/ts-mask-rcnn_r18-scratch_fpn_1xb4-300it_synth-voc2nonvoc.py"
    assert crf.config == experiments.CONFIGS / leaf
    assert crf.mixins == (experiments.CONFIGS / "_base_" / "ts_variants" / "crf.py",)
    assert crf.work_dir.name == f"{crf.config.stem}+crf-{crf.key}" and crf.track == "detector"
    box = _resolve(data, tmp_path, method="ts: CRF", track="box_conditioned")
    assert [m.relative_to(experiments.CONFIGS).as_posix() for m in box.mixins] == [
        "_base_/ts_variants/crf.py", "_base_/tracks/box_conditioned.py", "_base_/schedules/box_conditioned_cpu.py"]
    assert box.track == "box_conditioned" and box.work_dir.name.startswith(f"{crf.config.stem}+crf+box_conditioned+")
    full = experiments.config("ts: CRF", "voc2nonvoc", "full", "box_conditioned")
    assert [m.name for m in full.mixins] == ["crf.py", "box_conditioned.py", "synth_gpu.py"]
    assert full.command() == ("tspsis train configs/mask_rcnn_ts/ts-mask-rcnn_r18-scratch_fpn_1xb4-300it_synth-"
                              "voc2nonvoc.py --mixin configs/_base_/ts_variants/crf.py --mixin configs/_base_/tracks/"
                              "box_conditioned.py --mixin configs/_base_/schedules/synth_gpu.py")
    boxinst = experiments.config("BoxInst + ours", "voc2nonvoc", "full")
    assert [m.name for m in boxinst.mixins] == ["boxinst_synth_gpu.py"]  # BoxInst's own lr on one GPU


def test_tracks_and_the_profile_default(data, tmp_path, monkeypatch):
    assert experiments.available("Mask GrabCut", "nonvoc2voc", "demo", "box_conditioned")
    assert not experiments.available("BoxInst + ours", "voc2nonvoc", "demo", "box_conditioned")
    assert "no box_conditioned track" in experiments.unavailable_reason("BoxInst", "voc2nonvoc", "demo",
                                                                        "box_conditioned")
    assert not experiments.available("Mask R-CNN", "voc2nonvoc", "coco", "box_conditioned")  # synthetic data only
    with pytest.raises(ValueError, match="track"):
        experiments.config("Mask R-CNN", "voc2nonvoc", "demo", "boxes")
    assert _resolve(data, tmp_path).track == "detector"
    monkeypatch.setitem(experiments.PROFILE_TRACKS, "tiny", "box_conditioned")  # how a profile switches track
    assert _resolve(data, tmp_path) == _resolve(data, tmp_path, track="box_conditioned")
    assert not experiments.available("BoxInst", "voc2nonvoc", "tiny")


def test_seen_split_replaces_training_file_and_manifests(data, tmp_path):
    ts = _resolve(data, tmp_path, seen="first-6")
    root = data["root"]
    assert "train_dataloader.dataset.ann_file=annotations/train_first-6.json" in ts.cfg_options
    assert f"test_evaluator.manifest={root}/annotations/train_first-6.manifest.json" in ts.cfg_options
    assert ts.work_dir.name.startswith("ts-mask-rcnn_r18-scratch_fpn_1xb4-300it_synth-voc2nonvoc-seen-first-6-")
    oracle = _resolve(data, tmp_path, method="Oracle", seen="first-6")  # trains on every mask: manifest only
    assert not any(o.startswith("train_dataloader.dataset.ann_file") for o in oracle.cfg_options)
    assert any(o.endswith("train_first-6.manifest.json") for o in oracle.cfg_options)
    with pytest.raises(ValueError, match="seen must be"):
        _resolve(data, tmp_path, seen="person,dog")


def test_missing_config_is_named(data, tmp_path, monkeypatch):
    monkeypatch.setitem(experiments.METHODS, "X", experiments.Method("X", "x-{setting}-{direction}"))
    assert not experiments.available("X", "voc2nonvoc", "demo")
    with pytest.raises(FileNotFoundError, match="x-r18-scratch_fpn_1xb4-300it_synth-voc2nonvoc.py"):
        _resolve(data, tmp_path, method="X")


def test_training_seconds_is_median_iteration_time_times_iterations(tmp_path):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"run": {"iters": 60, "iter_time_median": 1.5}}))
    assert experiments.training_seconds(Run(tmp_path, metrics, None)) == 90.0
    metrics.write_text(json.dumps({"run": {"iters": 60}}))
    assert experiments.training_seconds(Run(tmp_path, metrics, None)) is None


def test_seen_specs_start_from_voc():
    for profile in experiments.PROFILES:
        specs = experiments.seen_specs(profile)
        assert specs[0] == "voc" and all(s.startswith("first-") for s in specs[1:])
