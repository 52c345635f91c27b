"""tspsis.runner: schedule rescaling and data-root replacement (what `tspsis train` changes in a config)."""
from pathlib import Path

from tspsis.runner import (DEFAULT_SEED, METRICS_FILE, default_test_name, load_config, replace_data_root,
                           metrics_file_of_test)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_max_iters_rescales_the_schedule_and_model_warmups(tmp_path):
    cfg = load_config(str(CONFIGS / "psis-boxinst_r18_fpn_cpu_synth-voc2nonvoc.py"), str(tmp_path), [], None)
    full = cfg.train_cfg.max_iters
    warmup = cfg.model.mask_head.warmup_iters
    short = load_config(str(CONFIGS / "psis-boxinst_r18_fpn_cpu_synth-voc2nonvoc.py"), str(tmp_path), [], None,
                        max_iters=full // 10)
    assert short.train_cfg.max_iters == short.train_cfg.val_interval == full // 10
    milestones = next(s for s in short.param_scheduler if "milestones" in s).milestones
    assert milestones == [round(m / 10) for m in next(s for s in cfg.param_scheduler if "milestones" in s).milestones]
    assert short.model.mask_head.warmup_iters == max(1, round(warmup / 10))
    assert short.default_hooks.checkpoint.interval == max(1, full // 60)


def test_data_root_reaches_every_path_built_from_it(tmp_path):
    cfg = load_config(str(CONFIGS / "ts-mask-rcnn_r18_fpn_cpu_synth-voc2nonvoc_thr.py"), str(tmp_path), [],
                      "/data/elsewhere")
    assert cfg.train_dataloader.dataset.data_root == "/data/elsewhere/"
    assert cfg.test_evaluator.ann_file == "/data/elsewhere/annotations/val.json"
    assert cfg.val_evaluator.manifest == "/data/elsewhere/annotations/train_voc.manifest.json"
    assert replace_data_root({"a": ["data/x/y", 3]}, "data/x/", "/new/") == {"a": ["/new/y", 3]}


def test_every_run_is_seeded_and_seed_overrides_the_config(tmp_path):
    config = str(CONFIGS / "ts-mask-rcnn_r18_fpn_cpu_synth-voc2nonvoc_thr.py")
    assert load_config(config, str(tmp_path), []).randomness.seed == DEFAULT_SEED  # no config sets one
    assert load_config(config, str(tmp_path), [], seed=7).randomness.seed == 7
    from_options = load_config(config, str(tmp_path), ["randomness.seed=3", "randomness.deterministic=True"])
    assert from_options.randomness.seed == 3 and from_options.randomness.deterministic is True
    overridden = load_config(config, str(tmp_path), ["randomness.seed=3", "randomness.deterministic=True"], seed=5)
    assert overridden.randomness.seed == 5 and overridden.randomness.deterministic is True  # the rest is kept


def test_a_test_is_named_after_its_checkpoint_and_options_never_metrics_json():
    name = default_test_name("/runs/x/iter_12.pth", ["model.roi_head.test_mask_head=teacher"])
    assert name == "iter_12-test_mask_head-teacher"
    assert metrics_file_of_test(name) == "test-iter_12-test_mask_head-teacher.metrics.json" != METRICS_FILE
    long = default_test_name("iter_1.pth", [f"a.b{k}=/some/long/path/value{k}" for k in range(10)])
    assert len(long) <= 80 and long != default_test_name("iter_1.pth", ["a.b0=/other"])
    assert default_test_name("iter_1.pth", ["x=1"]) != default_test_name("iter_1.pth", ["x=2"])
