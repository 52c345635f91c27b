"""tspsis.lab: the profiles, the method registry, data preparation with every split, and the run cache key
(resolved without training)."""
import dataclasses
import json
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from tspsis import lab
from tspsis.cli import build_parser
from tspsis.core import paper
from tspsis.engine import launch
from tspsis.engine.launch import Run
from tspsis.lab import digest, profiles, registry
from tspsis.viz import tables as reporting

CORE = ("Mask R-CNN", "Mask R-CNN + ours", "Oracle")
VARIANTS = ("ts: no post-processing", "ts: CRF", "ts: interact", "ts: high-res teacher", "ts: deeper teacher")


@pytest.fixture(scope="module")
def data(tiny_synth, tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-experiments")
    shutil.copytree(tiny_synth, root, dirs_exist_ok=True)
    return lab.prepare_data("tiny", root)


def test_registry_rows_are_the_papers_and_the_core_rows_exist_for_every_profile():
    table1_rows = [m for m in lab.METHODS if ": " not in m]  # variants are "<row>: <change>"
    assert table1_rows == list(paper.TABLE1["R50-FPN"])  # the paper's rows, in its order
    for profile in lab.PROFILES:
        for direction in lab.DIRECTIONS:
            for method in CORE + VARIANTS:
                assert lab.available(method, direction, profile), (method, direction, profile)
    with pytest.raises(ValueError, match="unknown method"):
        lab.config_path("nope", "voc2nonvoc", "demo")
    with pytest.raises(ValueError, match="direction"):
        lab.config_path("Oracle", "voc2voc", "demo")


@pytest.mark.parametrize("profile", lab.PROFILES)
def test_every_method_a_profile_trains_has_its_config(profile):
    schedule = lab.PROFILES[profile].schedule
    assert set(schedule.seen_split_methods) <= set(lab.METHODS)
    for method, directions in (schedule.methods or {}).items():
        assert method in lab.METHODS and set(directions) <= set(lab.DIRECTIONS)
        for direction in directions:
            assert lab.available(method, direction, profile), (method, direction, profile)


def test_demo_all_trains_every_table1_row_voc2nonvoc_and_says_why_a_row_is_missing(tmp_path):
    ctx = lab.Context("03", "demo-all", tmp_path, tmp_path, tmp_path, 0, 0, {})
    for method in paper.TABLE1["R50-FPN"]:  # every row the box-conditioned track has
        assert ctx.available(method, "voc2nonvoc") == (not method.startswith("BoxInst")), method
    assert "detector track only" in ctx.why_not("BoxInst + ours", "voc2nonvoc")  # the reason, not the budget
    assert ctx.available("Mask R-CNN + ours", "nonvoc2voc") and not ctx.available("OPMask", "nonvoc2voc")
    assert "not trained in the demo-all profile" in ctx.why_not("OPMask", "nonvoc2voc")
    assert lab.Context("03", "full", tmp_path, tmp_path, tmp_path, 0, 0, {}).available("OPMask", "nonvoc2voc")


def test_demo_trains_the_claims_rows_on_three_seeds_and_leaves_the_others_to_demo_all(tmp_path):
    demo = lab.Context("03", "demo", tmp_path, tmp_path, tmp_path, 0, 0, {}, train_seeds=(0, 1, 2))
    for method in ("Mask R-CNN", "Mask R-CNN + ours", "Oracle"):
        assert all(demo.available(method, d) for d in lab.DIRECTIONS) and demo.seeds_of(method) == (0, 1, 2)
    for method in ("ts: deeper teacher", "ts: CRF", "ts: interact"):  # claims 4 and 5
        assert demo.available(method, "voc2nonvoc") and demo.seeds_of(method) == (0, 1, 2)
    assert demo.available("Mask GrabCut", "voc2nonvoc") and demo.seeds_of("Mask GrabCut") == (0,)
    assert not demo.available("OPMask", "voc2nonvoc")
    assert "not trained in the demo profile" in demo.why_not("OPMask", "voc2nonvoc")
    demo_rows = {(m, d) for m, ds in lab.PROFILES["demo"].schedule.methods.items() for d in ds}
    all_rows = {(m, d) for m, ds in lab.PROFILES["demo-all"].schedule.methods.items() for d in ds}
    assert demo_rows < all_rows


def test_demo_all_shares_the_demos_data_work_dir_and_runs(data, tmp_path):
    assert lab.default_data_root("demo-all") == lab.default_data_root("demo")
    assert lab.default_work_dir("demo-all") == lab.default_work_dir("demo")
    assert lab.data_profile("demo-all") == "demo" and lab.data_profile("tiny") == "tiny"
    same = [lab.resolve("Oracle", "voc2nonvoc", profile=p, data_root=data["root"], work_dir=tmp_path,
                                max_iters=3) for p in ("demo", "demo-all")]
    assert same[0].work_dir == same[1].work_dir  # a run both profiles schedule is trained once


def test_measure_notes_each_direction_apart(tmp_path, monkeypatch):
    ctx = lab.Context("03", "demo-all", tmp_path, tmp_path, tmp_path, 0, 0, {})
    trained = []

    def fake_run_all(requests):
        trained.extend(requests)
        return [type("FakeRun", (), {"metrics": {"segm": {"unseen": {"AP": 1.0 + i}}}})() for i, _ in
                enumerate(requests)]

    monkeypatch.setattr(ctx, "run_all", fake_run_all)
    measured, notes = ctx.measure(["Mask R-CNN", "OPMask"], lab.DIRECTIONS)
    assert trained == [("Mask R-CNN", "voc2nonvoc", None, 0), ("OPMask", "voc2nonvoc", None, 0),
                       ("Mask R-CNN", "nonvoc2voc", None, 0)]  # the context's one training seed
    assert measured == {"voc2nonvoc": {"Mask R-CNN": {"AP": 1.0}, "OPMask": {"AP": 2.0}},
                        "nonvoc2voc": {"Mask R-CNN": {"AP": 3.0}}}
    assert notes["voc2nonvoc"] == {} and list(notes["nonvoc2voc"]) == ["OPMask"]


def _fake_runs(values):
    """run_all stand-in: the run of request k has unseen AP values[k] and 7 unseen GT objects."""
    def run_all(requests):
        run_all.requests = list(requests)
        return [type("FakeRun", (), {"metrics": {"segm": {"unseen": {"AP": v, "num_gt": 7}}}})()
                for v, _ in zip(values, requests)]
    return run_all


def test_measure_trains_every_seed_and_reports_mean_std_n(tmp_path, monkeypatch):
    ctx = lab.Context("03", "demo", tmp_path, tmp_path, tmp_path, 0, 0, {}, train_seeds=(0, 1, 2))
    fake = _fake_runs([10.0, 12.0, 14.0, 1.0, 1.0, 1.0])
    monkeypatch.setattr(ctx, "run_all", fake)
    measured, _ = ctx.measure(["Mask R-CNN", "Oracle"], ["voc2nonvoc"])
    assert fake.requests == [("Mask R-CNN", "voc2nonvoc", None, s) for s in (0, 1, 2)] + \
        [("Oracle", "voc2nonvoc", None, s) for s in (0, 1, 2)]  # each (method, direction, seed) its own run
    ap = measured["voc2nonvoc"]["Mask R-CNN"]["AP"]
    assert isinstance(ap, reporting.Stat) and ap == 12.0 and ap.std == pytest.approx(2.0) and ap.n == 3
    assert ap.seeds == (0, 1, 2) and measured["voc2nonvoc"]["Oracle"]["AP"].std == 0.0
    assert measured["voc2nonvoc"]["Mask R-CNN"]["num_gt"] == 7  # a count equal in every seed stays a count
    assert reporting.fmt(ap) == "12.0 ± 2.0 (n=3)"

    fake = _fake_runs([5.0, 6.0])  # seeds= overrides the context's; requests may name a seen split
    monkeypatch.setattr(ctx, "run_all", fake)
    records = ctx.measure_each([("Mask R-CNN", "voc2nonvoc", "first-6")], seeds=[3, 4])
    assert fake.requests == [("Mask R-CNN", "voc2nonvoc", "first-6", 3), ("Mask R-CNN", "voc2nonvoc", "first-6", 4)]
    assert records[("Mask R-CNN", "voc2nonvoc", "first-6")]["AP"] == 5.5


def test_prepare_data_writes_every_split(data):
    assert set(data["splits"]) == {"voc", "nonvoc", "first-6", "disjoint-both"}  # Fig. 8's and the coverage study's
    seen = {spec: json.loads(p["manifest"].read_text())["seen_category_ids"] for spec, p in data["splits"].items()}
    assert len(seen["voc"]) == 6 and len(seen["nonvoc"]) == 18 and len(seen["first-6"]) == 12
    assert set(seen["voc"]) < set(seen["first-6"])
    first6 = json.loads(data["splits"]["first-6"]["ann"].read_text())
    unseen = set(json.loads(data["splits"]["first-6"]["manifest"].read_text())["unseen_category_ids"])
    assert all(("segmentation" in a) == (a["category_id"] not in unseen) for a in first6["annotations"])
    mtime = data["splits"]["voc"]["ann"].stat().st_mtime_ns
    lab.prepare_data("tiny", data["root"])  # up to date: nothing rewritten
    assert data["splits"]["voc"]["ann"].stat().st_mtime_ns == mtime


def _resolve(data, tmp_path, method="Mask R-CNN + ours", track="detector", **kwargs):
    """A tiny-profile run, in the detector track unless ``track`` says otherwise (the profile's own is the
    box-conditioned track)."""
    return lab.resolve(method, "voc2nonvoc", profile="tiny", data_root=data["root"],
                               work_dir=tmp_path, track=track, **kwargs)


def test_cache_key_follows_everything_that_changes_the_run(data, tmp_path):
    base = _resolve(data, tmp_path)
    assert base == _resolve(data, tmp_path)  # deterministic
    assert base.work_dir == tmp_path.resolve() / f"ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc+2it-{base.key}"
    assert base.max_iters == lab.PROFILES["tiny"].schedule.max_iters
    others = [_resolve(data, tmp_path, max_iters=3), _resolve(data, tmp_path, seen="first-6"),
              _resolve(data, tmp_path, cfg_options=["model.roi_head.pseudo_labeler.post_process.thr=0.6"]),
              _resolve(data, tmp_path, gpus=2), _resolve(data, tmp_path, method="Mask R-CNN"),
              _resolve(data, tmp_path, method="ts: CRF"), _resolve(data, tmp_path, track="box_conditioned")]
    assert len({base.key, *(o.key for o in others)}) == 1 + len(others)
    assert _resolve(data, tmp_path, seen="voc").key == base.key  # the direction's own split is the same run


def test_cache_key_changes_when_a_base_config_or_a_mixin_changes(data, tmp_path, monkeypatch):
    configs = tmp_path / "configs"
    shutil.copytree(registry.CONFIGS, configs)
    monkeypatch.setattr(registry, "CONFIGS", configs)
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
    leaf = "mask_rcnn_ts/ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"
    assert crf.config == registry.CONFIGS / leaf
    assert crf.mixins == (registry.CONFIGS / "_base_" / "ts_variants" / "crf.py",)
    # the run folder names the whole composition: leaf, mixins in order, the profile's iterations (tiny: 2)
    assert crf.work_dir.name == f"{crf.config.stem}+crf+2it-{crf.key}" and crf.track == "detector"
    box = _resolve(data, tmp_path, method="ts: CRF", track="box_conditioned")
    assert [m.relative_to(registry.CONFIGS).as_posix() for m in box.mixins] == [
        "_base_/ts_variants/crf.py", "_base_/tracks/box-conditioned.py", "_base_/schedules/box-cpu_1xb16.py",
        "_base_/ts_variants/warmup-half.py",  # the track's teacher-student rows: pseudo-label warm-up
        "_base_/class_specific/logits-lr.py"]  # and the class-specific logit layer's rate
    assert box.track == "box_conditioned" and box.work_dir.name == (
        f"{crf.config.stem}+crf+box-conditioned+box-cpu_1xb16+warmup-half+logits-lr+2it-{box.key}")
    full = lab.config("ts: CRF", "voc2nonvoc", "full", "box_conditioned")
    assert [m.name for m in full.mixins] == ["crf.py", "box-conditioned.py", "warmup-half.py", "logits-lr.py",
                                             "synth-gpu_1xb16-3000it.py"]
    assert full.command() == ("tspsis train configs/mask_rcnn_ts/ts-mask-rcnn_r18-scratch_fpn_synth-"
                              "voc2nonvoc.py --mixin configs/_base_/ts_variants/crf.py --mixin configs/_base_/tracks/"
                              "box-conditioned.py --mixin configs/_base_/ts_variants/warmup-half.py --mixin "
                              "configs/_base_/class_specific/logits-lr.py --mixin configs/_base_/schedules/"
                              "synth-gpu_1xb16-3000it.py --work-dir work_dirs/ts-mask-rcnn_r18-scratch_fpn_synth-"
                              "voc2nonvoc+crf+box-conditioned+warmup-half+logits-lr+synth-gpu_1xb16-3000it")
    boxinst = lab.config("BoxInst + ours", "voc2nonvoc", "full")
    assert [m.name for m in boxinst.mixins] == ["boxinst-synth-gpu_1xb16-3000it.py"]  # BoxInst's own lr on one GPU


def test_tracks_and_the_profile_default(data, tmp_path, monkeypatch):
    assert lab.available("Mask GrabCut", "nonvoc2voc", "demo", "box_conditioned")
    assert not lab.available("BoxInst + ours", "voc2nonvoc", "demo", "box_conditioned")
    assert "detector track only" in lab.unavailable_reason("BoxInst", "voc2nonvoc", "demo",
                                                                    "box_conditioned")
    assert not lab.available("Mask R-CNN", "voc2nonvoc", "coco", "box_conditioned")  # synthetic data only
    with pytest.raises(ValueError, match="track"):
        lab.config("Mask R-CNN", "voc2nonvoc", "demo", "boxes")
    assert _resolve(data, tmp_path, track=None) == _resolve(data, tmp_path, track="box_conditioned")  # tiny's own
    assert not lab.available("BoxInst", "voc2nonvoc", "tiny")
    monkeypatch.setitem(lab.PROFILES, "tiny", dataclasses.replace(lab.PROFILES["tiny"], track="detector"))
    assert _resolve(data, tmp_path, track=None).track == "detector"


def test_cache_key_follows_the_training_seed(data, tmp_path):
    base = _resolve(data, tmp_path)
    assert base.seed == 0 and _resolve(data, tmp_path, seed=0).key == base.key  # seed 0 is the default
    other = _resolve(data, tmp_path, seed=1)
    assert other.seed == 1 and other.key != base.key and other.work_dir != base.work_dir


def test_cache_key_changes_when_the_model_code_changes(data, tmp_path, monkeypatch):
    package = tmp_path / "tspsis"
    shutil.copytree(digest.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(digest, "PACKAGE", package)
    before = _resolve(data, tmp_path)
    heads = package / "plugin" / "roi_heads" / "teacher_student.py"
    heads.write_text(heads.read_text() + "\n# a change to a model file\n")
    after = _resolve(data, tmp_path)
    assert after.key != before.key and after.code != before.code
    heads.write_text(heads.read_text().replace("\n# a change to a model file\n", ""))
    assert _resolve(data, tmp_path).key == before.key  # the digest is of the content

    plots = package / "viz" / "plots.py"  # not imported by the training process: no new runs for a figure change
    plots.write_text(plots.read_text() + "\n# a plotting change\n")
    assert _resolve(data, tmp_path).key == before.key


def test_code_digest_covers_what_the_training_process_imports():
    files = {p.relative_to(digest.PACKAGE).as_posix() for p in
             digest._import_closure(["tspsis.engine.runner", "tspsis.plugin"])}
    assert {"engine/runner.py", "core/pseudo.py", "core/cam.py", "eval/evaluate.py", "eval/coco_subset.py",
            "core/overlap.py", "plugin/roi_heads/teacher_student.py", "plugin/roi_heads/opmask.py",
            "plugin/dense_heads/boxinst.py", "plugin/transforms/loading.py", "plugin/metrics/partial_coco_metric.py",
            "plugin/task_modules/pseudo_labeler.py", "plugin/utils/partial_supervision.py",
            "plugin/data_preprocessors/boxinst_preprocessor.py"} <= files
    assert not {f for f in files if f.split("/")[0] in ("lab", "viz", "cli")}  # notebooks, tables, figures, CLI
    assert "engine/launch.py" not in files


def test_a_gpu_profile_fails_at_once_without_a_gpu(monkeypatch, tmp_path):
    monkeypatch.setattr(profiles, "resolve_gpus", lambda gpus: 0)
    with pytest.raises(launch.DeviceError, match=r"profile 'full' needs a GPU.*--profile demo"):
        lab.require_device("full")
    with pytest.raises(launch.DeviceError, match="profile 'coco' needs a GPU"):
        lab.Context.create("00", "coco", tmp_path / "nothing-here")  # before looking for COCO
    assert lab.require_device("demo") == 0
    monkeypatch.setattr(profiles, "resolve_gpus", lambda gpus: 2 if gpus is None else gpus)
    assert lab.require_device("full") == 2


def test_run_notebooks_with_a_gpu_profile_exits_within_seconds_naming_the_fix(tmp_path):
    if launch.resolve_gpus(None):
        pytest.skip("a GPU is visible: the full profile would start")
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "tspsis", "run-notebooks", "--profile", "full", "--out-dir",
                           str(tmp_path / "run"), "--data-root", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=30, cwd=launch.REPO_ROOT)
    assert proc.returncode != 0 and time.time() - start < 30
    assert "profile 'full' needs a GPU" in proc.stderr and "torch.cuda.is_available() is False" in proc.stderr
    assert "--profile demo" in proc.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()  # nothing generated


def test_plan_line_counts_runs_to_train_and_estimates_their_time(data, tmp_path, capsys, monkeypatch):
    experiments_ = [_resolve(data, tmp_path), _resolve(data, tmp_path, seed=1), _resolve(data, tmp_path, seed=2)]
    done = experiments_[0].work_dir
    done.mkdir(parents=True)
    (done / "experiment.json").write_text(json.dumps({"profile": "tiny"}))
    (done / "metrics.json").write_text(json.dumps({"run": {"complete": True, "wall_seconds_total": 30.0}}))
    lab.print_plan(experiments_, 2, "tiny", tmp_path)
    line = capsys.readouterr().out
    assert "training 2 runs (1 cached), 2 at a time: about 0.5 min (30 s per run: median of 1 finished" in line
    # no timed run: the profile's constant
    monkeypatch.setitem(lab.PROFILES, "tiny", dataclasses.replace(lab.PROFILES["tiny"], seconds_per_run=20.0))
    assert lab.estimate_seconds("tiny", tmp_path / "empty") == (20.0, "the tiny profile's measured seconds_per_run")
    lab.print_plan(experiments_[:1], 2, "tiny", tmp_path)
    assert capsys.readouterr().out == "1 run, all cached\n"  # no estimate, no line per cached run


def test_seen_split_replaces_training_file_and_manifests(data, tmp_path):
    ts = _resolve(data, tmp_path, seen="first-6")
    root = data["root"]
    assert "train_dataloader.dataset.ann_file=annotations/train_first-6.json" in ts.cfg_options
    assert f"test_evaluator.manifest={root}/annotations/train_first-6.manifest.json" in ts.cfg_options
    assert ts.work_dir.name.startswith("ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc+2it-seen-first-6-")
    oracle = _resolve(data, tmp_path, method="Oracle", seen="first-6")  # trains on every mask: manifest only
    assert not any(o.startswith("train_dataloader.dataset.ann_file") for o in oracle.cfg_options)
    assert any(o.endswith("train_first-6.manifest.json") for o in oracle.cfg_options)
    with pytest.raises(ValueError, match="seen must be"):
        _resolve(data, tmp_path, seen="person,dog")


def test_missing_config_is_named(data, tmp_path, monkeypatch):
    monkeypatch.setitem(lab.METHODS, "X", lab.Method("X", "x-{setting}-{direction}"))
    assert not lab.available("X", "voc2nonvoc", "demo")
    with pytest.raises(FileNotFoundError, match="x-r18-scratch_fpn_synth-voc2nonvoc.py"):
        _resolve(data, tmp_path, method="X")


def test_training_seconds_is_median_iteration_time_times_iterations(tmp_path):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"run": {"iters": 60, "iter_time_median": 1.5}}))
    assert lab.training_seconds(Run(tmp_path, metrics, None)) == 90.0
    metrics.write_text(json.dumps({"run": {"iters": 60}}))
    assert lab.training_seconds(Run(tmp_path, metrics, None)) is None


def test_seen_specs_start_from_voc():
    for profile in lab.PROFILES:
        specs = lab.seen_specs(profile)
        assert specs[0] == "voc" and all(s.startswith("first-") for s in specs[1:])


def test_a_profile_is_one_entry_in_the_registry(data, tmp_path, monkeypatch):
    """Adding a profile is one ``Profile`` in ``PROFILES`` (here a throw-away one on the tiny data): the registry,
    resolve, Context and the command line read it from there."""
    tiny = lab.PROFILES["tiny"]
    schedule = dataclasses.replace(tiny.schedule, max_iters=1, methods={"Oracle": ("voc2nonvoc",)}, pretrain_iters=None,
                                   note="throw-away profile")
    monkeypatch.setitem(lab.PROFILES, "quick", lab.Profile("quick", tiny.data, tiny.setting, "box_conditioned",
                                                            tiny.track_mixins, schedule))
    run = lab.resolve("Oracle", "voc2nonvoc", profile="quick", data_root=data["root"], work_dir=tmp_path)
    assert (run.profile, run.track, run.max_iters, run.pretrained) == ("quick", "box_conditioned", 1, None)
    ctx = lab.Context("03", "quick", data["root"], tmp_path, tmp_path, 0, 0, data)
    assert ctx.available("Oracle", "voc2nonvoc") and not ctx.available("Oracle", "nonvoc2voc")
    assert ctx.schedule.note == "throw-away profile" and lab.default_data_root("quick") == lab.default_data_root("tiny")
    assert build_parser().parse_args(["run-notebooks", "--profile", "quick"]).profile == "quick"


def test_the_detector_track_tests_its_rows_again_on_the_ground_truth_boxes(monkeypatch, tmp_path):
    """measure_on_given_boxes: every trained row with a box-conditioned track (not BoxInst), + ours' teacher right
    after it; each test's request is the training's with the track's mixin merged last; nothing in the box track."""
    from tspsis.apis import BOX_TRACK_MIXIN
    from tspsis.core.paths import CONFIGS
    from tspsis.lab import runs as runs_module

    requests = {}

    def fake_test(request, checkpoint, work_dir, gpus, name, nodes):
        requests[work_dir.name, name] = request
        return SimpleNamespace(metrics={"segm": {"unseen": {"AP": len(requests)}}})

    trained = lab.resolve("Oracle", "voc2nonvoc", profile="demo-detector", data_root=tmp_path, work_dir=tmp_path)
    monkeypatch.setattr(runs_module, "test", fake_test)
    # every training finished, no test yet
    monkeypatch.setattr(runs_module, "completed_run",
                        lambda work_dir, *metrics: None if metrics else SimpleNamespace(checkpoint=tmp_path / "c.pth"))
    ctx = lab.Context("nb", "demo-detector-all", tmp_path, tmp_path, tmp_path, gpus=0, seed=0, data={})

    def run_all(self, wanted):
        self.experiments.update({(m, d, seen, s): dataclasses.replace(trained, work_dir=tmp_path / f"{m}-{d}-{s}")
                                 for m, d, seen, s in wanted})

    monkeypatch.setattr(lab.Context, "run_all", run_all)
    given = ctx.measure_on_given_boxes(["Mask R-CNN + ours", "BoxInst", "Oracle"], ["voc2nonvoc"])
    assert list(given["voc2nonvoc"]) == ["Mask R-CNN + ours", "Mask R-CNN + ours: its teacher Ft", "Oracle"]
    tested = requests["Mask R-CNN + ours-voc2nonvoc-0", "given-boxes-teacher"]
    assert tested.mixins == (*trained.mixins, (CONFIGS / BOX_TRACK_MIXIN).resolve())
    assert tested.cfg_options == (*trained.cfg_options, "model.roi_head.test_mask_head=teacher")
    assert {name for _, name in requests} == {"given-boxes", "given-boxes-teacher"}
    assert lab.Context("nb", "demo", tmp_path, tmp_path, tmp_path, gpus=0, seed=0, data={}).measure_on_given_boxes(
        ["Oracle"], ["voc2nonvoc"]) == {}


def test_a_test_of_a_run_is_read_back_once_finished_and_refused_before_its_training(monkeypatch, tmp_path):
    from tspsis.lab import runs as runs_module

    experiment = lab.resolve("Oracle", "voc2nonvoc", profile="demo-detector", data_root=tmp_path, work_dir=tmp_path)
    finished = SimpleNamespace(metrics={"segm": {}})
    monkeypatch.setattr(runs_module, "test", lambda *a, **k: pytest.fail("a finished test must not run again"))
    monkeypatch.setattr(runs_module, "completed_run", lambda work_dir, *metrics: finished)
    assert experiment.test([], "given-boxes", given_boxes=True) is finished
    monkeypatch.setattr(runs_module, "completed_run", lambda work_dir, *metrics: None)
    with pytest.raises(RuntimeError, match="no finished training to test"):
        experiment.test([], "teacher")


def test_a_row_started_from_other_weights_keys_them_and_trains_no_shared_pre_training(tmp_path):
    """init_from replaces the shared pre-training's checkpoint in the config, so the key (made from the config)
    changes with the weights; no pre-training is attached to train first; a row without one refuses it."""
    shared = lab.resolve("Oracle", "voc2nonvoc", profile="demo-detector", data_root=tmp_path, work_dir=tmp_path)
    other = [lab.resolve("Oracle", "voc2nonvoc", profile="demo-detector", data_root=tmp_path, work_dir=tmp_path,
                         init_from=tmp_path / name) for name in ("a.pth", "b.pth")]
    loaded = [o for o in shared.cfg_options if o.startswith("+model.init_cfg.checkpoint=")]
    assert loaded == [f"+model.init_cfg.checkpoint={shared.pretrained.final_checkpoint}"]
    assert [o for o in other[0].cfg_options if o.startswith("+model.init_cfg.checkpoint=")] == \
        [f"+model.init_cfg.checkpoint={(tmp_path / 'a.pth').resolve()}"]
    assert len({shared.key, other[0].key, other[1].key}) == 3 and other[0].pretrained is None
    assert other[0].request.cfg.model.init_cfg.checkpoint == str((tmp_path / "a.pth").resolve())
    with pytest.raises(ValueError, match="does not start from a shared pre-training"):
        lab.resolve("Oracle", "voc2nonvoc", profile="full", data_root=tmp_path, work_dir=tmp_path,
                    init_from=tmp_path / "a.pth")
