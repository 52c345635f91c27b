"""tspsis.engine.request: a run is parsed once in the process that resolves and launches it and once in the runner
process; its record round-trips; its identity is what decides whether a work dir's run can be reused."""
import collections
import json
import shutil
from pathlib import Path

import pytest

from tspsis import lab
from tspsis.core.io import read_json
from tspsis.engine import config, launch, runner
from tspsis.engine.request import RunRequest
from tspsis.engine.work_dir import REQUEST_FILE

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TS = CONFIGS / "mask_rcnn_ts" / "ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py"
CRF = CONFIGS / "_base_" / "ts_variants" / "crf.py"


@pytest.fixture
def parses(monkeypatch) -> collections.Counter:
    """How often each config file (not mixins) is parsed from here on: Counter {path: count}."""
    counted = collections.Counter()
    read = config._read_config

    def counting(path, what):
        if what == "config":
            counted[Path(path).resolve()] += 1
        return read(path, what)

    monkeypatch.setattr(config, "_read_config", counting)
    return counted


@pytest.fixture
def data_root(tiny_synth, tmp_path):
    shutil.copytree(tiny_synth, tmp_path / "data")
    return lab.prepare_data("tiny", tmp_path / "data")["root"]


def _no_child(monkeypatch, started: list) -> None:
    """``launch._start`` records what it would run and leaves a finished run's metrics instead of a process."""
    def start(mode, request_file, name, work_dir, *args):
        started.append(read_json(request_file, "request"))
        (work_dir / "metrics.json").write_text('{"run": {"complete": true}}')

    monkeypatch.setattr(launch, "_start", start)


def test_a_lab_run_is_parsed_once_where_it_is_resolved_checked_and_launched(data_root, tmp_path, parses,
                                                                               monkeypatch):
    started = []
    _no_child(monkeypatch, started)
    row = lab.resolve("Mask R-CNN + ours", "voc2nonvoc", profile="tiny", data_root=data_root,
                      work_dir=tmp_path / "w", seen="first-6", seed=3)  # a seen split: its options read the config
    row.train()
    assert parses[row.config] == 1  # resolve (key, seen options), check and record: one parse
    recorded = started[-1]
    assert recorded["key"] == row.key and recorded["seed"] == 3 and recorded["max_iters"] == row.max_iters
    assert any("train_first-6." in option for option in recorded["cfg_options"])
    assert recorded["resolved"] == row.request.identity == read_json(row.work_dir / REQUEST_FILE, "request")[
        "resolved"]
    experiment = read_json(row.work_dir / "experiment.json", "experiment")
    assert experiment["request"] == REQUEST_FILE and "cfg_options" not in experiment  # named, not repeated


def test_the_runner_process_parses_the_recorded_request_once(data_root, tmp_path, parses, monkeypatch):
    request = RunRequest(TS, (CRF,), ("train_dataloader.num_workers=0",), data_root, max_iters=2, seed=1)
    work_dir = tmp_path / "w"
    work_dir.mkdir()
    (work_dir / REQUEST_FILE).write_text(json.dumps(request.record()))
    parses.clear()  # the record above parsed it in this process: count the runner's own
    seen = {}

    class Stop(Exception):
        pass

    def from_cfg(cfg):
        seen["cfg"] = cfg
        raise Stop

    from mmengine.runner import Runner

    monkeypatch.setattr(Runner, "from_cfg", from_cfg)
    with pytest.raises(Stop):
        runner.main(["train", str(work_dir / REQUEST_FILE), "--work-dir", str(work_dir)])
    assert parses == {TS: 1}
    cfg = seen["cfg"]  # what it composed is what the request resolves to, in its own work dir
    assert cfg.work_dir == str(work_dir) and cfg.randomness.seed == 1 and cfg.train_cfg.max_iters == 2
    assert cfg.model.roi_head.pseudo_labeler.post_process.type == request.cfg.model.roi_head.pseudo_labeler\
        .post_process.type


def test_the_record_round_trips_and_the_identity_sees_every_option():
    request = RunRequest(TS, (CRF,), ("train_dataloader.batch_size=2",), max_iters=4, seed=2, key="k")
    again = RunRequest.from_record(request.record())
    assert again == request and again.identity == request.identity
    assert again.name == f"{TS.stem}+crf+4it"
    other = RunRequest(TS, (CRF,), ("train_dataloader.batch_size=3",), max_iters=4, seed=2, key="k")
    assert other.identity != request.identity
    assert other.identity["train_dataloader"]["batch_size"] == 3 and "work_dir" not in other.identity


def test_a_test_of_a_training_keeps_its_files_and_options_but_not_its_schedule():
    trained = RunRequest(TS, (CRF,), ("a=1",), Path("/data"), max_iters=4, seed=2, load_from=Path("/w.pth"), key="k")
    tested = trained.test_of(["model.roi_head.test_mask_head=teacher"])
    assert (tested.config, tested.mixins, tested.data_root) == (trained.config, trained.mixins, trained.data_root)
    assert tested.cfg_options == ("a=1", "model.roi_head.test_mask_head=teacher")
    assert (tested.max_iters, tested.seed, tested.load_from, tested.key) == (None, None, None, None)
