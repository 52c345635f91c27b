"""tspsis.engine.config: mixins, schedule rescaling and data-root replacement (what `tspsis train` changes in a config);
tspsis.engine.work_dir: the names of a test's files."""
import json
import re
from pathlib import Path

import pytest

from tspsis.cli import commands as cli
from tspsis.engine.request import RunRequest
from tspsis.engine.config import DEFAULT_SEED, ConfigError, load_config, replace_data_root
from tspsis.engine.work_dir import METRICS_FILE, default_test_name, metrics_file_of_test

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
BOXINST = CONFIGS / "boxinst" / "psis-boxinst_r18-scratch_fpn_synth-voc2nonvoc.py"
TS = CONFIGS / "mask_rcnn_ts" / "ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"
PSIS = CONFIGS / "mask_rcnn" / "psis-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"


def test_max_iters_rescales_the_schedule_and_model_warmups(tmp_path):
    cfg = load_config(str(BOXINST), str(tmp_path), [], None)
    full = cfg.train_cfg.max_iters
    warmup = cfg.model.mask_head.warmup_iters
    short = load_config(str(BOXINST), str(tmp_path), [], None,
                        max_iters=full // 10)
    assert short.train_cfg.max_iters == short.train_cfg.val_interval == full // 10
    milestones = next(s for s in short.param_scheduler if "milestones" in s).milestones
    assert milestones == [round(m / 10) for m in next(s for s in cfg.param_scheduler if "milestones" in s).milestones]
    assert short.model.mask_head.warmup_iters == max(1, round(warmup / 10))
    assert short.default_hooks.checkpoint.interval == max(1, full // 60)


def test_data_root_reaches_every_path_built_from_it(tmp_path):
    cfg = load_config(str(TS), str(tmp_path), [],
                      "/data/elsewhere")
    assert cfg.train_dataloader.dataset.data_root == "/data/elsewhere/"
    assert cfg.test_evaluator.ann_file == "/data/elsewhere/annotations/val.json"
    assert cfg.val_evaluator.manifest == "/data/elsewhere/annotations/train_voc.manifest.json"
    assert replace_data_root({"a": ["data/x/y", 3]}, "data/x/", "/new/") == {"a": ["/new/y", 3]}


def test_mixins_merge_in_order_before_cfg_options_and_max_iters(tmp_path):
    gpu = str(CONFIGS / "_base_" / "schedules" / "synth-gpu_1xb16-3000it.py")
    crf = str(CONFIGS / "_base_" / "ts_variants" / "crf.py")
    cfg = load_config(str(TS), str(tmp_path), ["train_dataloader.batch_size=8"], None, max_iters=30,
                      mixins=[crf, gpu])
    assert cfg.model.roi_head.pseudo_labeler.post_process == dict(type="crf", thr=0.5, crf_backend="torch")
    assert cfg.model.data_preprocessor.type == "ImageKeepingDetDataPreprocessor"
    assert cfg.optim_wrapper.type == "AmpOptimWrapper" and cfg.optim_wrapper.clip_grad.max_norm == 35  # merged
    assert cfg.train_dataloader.batch_size == 8 and cfg.train_dataloader.num_workers == 8  # options come last
    assert cfg.train_cfg.max_iters == 30 and cfg.param_scheduler[0].end == 2  # the GPU schedule (200 of 3000), rescaled
    later = tmp_path / "later.py"
    later.write_text("model = dict(roi_head=dict(pseudo_labeler=dict(post_process=dict(_delete_=True, type='none'))))")
    cfg = load_config(str(TS), str(tmp_path), [], mixins=[crf, str(later)])
    assert cfg.model.roi_head.pseudo_labeler.post_process == dict(type="none")  # in order; _delete_ replaces


def test_mixins_pass_through_the_request_and_the_cli(tmp_path):
    request = RunRequest("c.py", mixins=("configs/x.py", tmp_path / "y.py"), cfg_options=("a=1",), max_iters=5)
    assert request.mixins == (Path("configs/x.py").resolve(), tmp_path / "y.py")  # in order, absolute
    assert RunRequest.from_record(json.loads(json.dumps({**request.__dict__, "config": "c.py"}, default=str))) \
        == request
    for command in (["train", "c.py", "--work-dir", "w"], ["test", "c.py", "k.pth", "--work-dir", "w"]):
        args = cli.build_parser().parse_args([*command, "--mixin", "m1.py", "--mixin", "m2.py"])
        assert args.mixin == [Path("m1.py"), Path("m2.py")]


def test_every_run_is_seeded_and_seed_overrides_the_config(tmp_path):
    config = str(TS)
    assert load_config(config, str(tmp_path), []).randomness.seed == DEFAULT_SEED  # no config sets one
    assert load_config(config, str(tmp_path), [], seed=7).randomness.seed == 7
    from_options = load_config(config, str(tmp_path), ["randomness.seed=3", "+randomness.deterministic=True"])
    assert from_options.randomness.seed == 3 and from_options.randomness.deterministic is True
    overridden = load_config(config, str(tmp_path), ["randomness.seed=3", "+randomness.deterministic=True"], seed=5)
    assert overridden.randomness.seed == 5 and overridden.randomness.deterministic is True  # the rest is kept


def test_a_test_is_named_after_its_checkpoint_and_options_never_metrics_json():
    name = default_test_name("/runs/x/iter_12.pth", ["model.roi_head.test_mask_head=teacher"])
    assert name == "iter_12-test_mask_head-teacher"
    assert metrics_file_of_test(name) == "test-iter_12-test_mask_head-teacher.metrics.json" != METRICS_FILE
    long = default_test_name("iter_1.pth", [f"a.b{k}=/some/long/path/value{k}" for k in range(10)])
    assert len(long) <= 80 and long != default_test_name("iter_1.pth", ["a.b0=/other"])
    assert default_test_name("iter_1.pth", ["x=1"]) != default_test_name("iter_1.pth", ["x=2"])


def test_a_child_that_sets_data_root_alone_moves_every_derived_path(tmp_path):
    child = tmp_path / "child.py"
    child.write_text(f"_base_ = '{PSIS}'\ndata_root = 'elsewhere/'\n")
    cfg = load_config(str(child), str(tmp_path), [])
    assert cfg.train_dataloader.dataset.data_root == "elsewhere/" == cfg.test_dataloader.dataset.data_root
    assert cfg.val_evaluator.ann_file.startswith("elsewhere/") and cfg.test_evaluator.manifest.startswith("elsewhere/")
    assert load_config(str(PSIS), str(tmp_path), []).test_evaluator.ann_file.startswith("data/synth/demo/")


def test_an_unknown_option_key_names_the_nearest_and_a_plus_adds_a_new_one(tmp_path):
    for typo, near in (("randomnes.seed=3", "randomness.seed"), ("train_cfg.max_iter=10", "train_cfg.max_iters"),
                       ("model.roi_head.mask_headd.num_convs=2", "model.roi_head.mask_head.num_convs")):
        with pytest.raises(ConfigError, match=rf"^--cfg-options {re.escape(typo.split('=')[0])}: no such key in the "
                                              rf"resolved config; did you mean {re.escape(near)}\? "):
            load_config(str(TS), str(tmp_path), [typo])
    cfg = load_config(str(TS), str(tmp_path), ["+model.roi_head.extra=2", "param_scheduler.0.end=7"])
    assert cfg.model.roi_head.extra == 2 and cfg.param_scheduler[0].end == 7  # list items by index
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(str(TS), str(tmp_path), ["randomness.seed"])


def test_missing_or_broken_config_files_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^config not found: .*nope\.py$"):
        load_config(str(tmp_path / "nope.py"), str(tmp_path), [])
    broken = tmp_path / "broken.py"
    broken.write_text("model = dict(\n")
    with pytest.raises(ConfigError, match=rf"^{broken}: cannot read this mixin \(SyntaxError"):
        load_config(str(TS), str(tmp_path), [], mixins=[str(broken)])


def test_cli_errors_are_one_line_before_any_work_dir_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TSPSIS_DEBUG", "0")  # restored afterwards: --debug sets it for the training processes
    argv = ["train", str(tmp_path / "nope.py"), "--work-dir", str(tmp_path / "w")]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == f"tspsis train: error: config not found: {tmp_path / 'nope.py'}\n"
    assert not (tmp_path / "w").exists()
    with pytest.raises(FileNotFoundError, match="config not found"):
        cli.main(["--debug", *argv])
    monkeypatch.setenv("TSPSIS_DEBUG", "1")
    with pytest.raises(FileNotFoundError, match="config not found"):
        cli.main(argv)
