"""benchmarks/bench_box_conditioned.py on a folder made by ``tspsis data synth`` alone: its data preparation writes
the splits the configs train on, as the lab does (``tspsis.lab.prepare_splits``); no data at all is one clear error."""
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from tspsis import lab

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_box_conditioned.py"
spec = importlib.util.spec_from_file_location("bench_box_conditioned", SCRIPT)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_a_folder_with_only_the_full_annotations_gets_the_labs_splits(tiny_synth, tmp_path):
    root = tmp_path / "synth"
    shutil.copytree(tiny_synth, root)  # what `tspsis data synth --profile tiny --out-dir DIR` writes
    assert sorted(p.name for p in (root / "annotations").iterdir()) == ["train.json", "val.json"]
    splits = bench.prepare("tiny", root)
    assert {"voc", "nonvoc", *lab.split_specs("tiny")} == set(splits)
    voc = root / "annotations" / "train_voc.json"
    assert splits["voc"] == {"ann": voc, "manifest": root / "annotations" / "train_voc.manifest.json"}
    assert all(path.is_file() for split in splits.values() for path in split.values())
    manifest = json.loads(splits["voc"]["manifest"].read_text())
    assert manifest["seen_category_ids"] and manifest["unseen_category_ids"]
    written = voc.stat().st_mtime_ns
    assert bench.prepare("tiny", root) == splits and voc.stat().st_mtime_ns == written  # up to date: kept


def test_no_data_is_one_line_naming_the_command_that_makes_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.main(["--data-root", str(tmp_path / "nothing"), "--profile", "tiny"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "train.json not found" in err and "tspsis data synth --out-dir" in err and "Traceback" not in err


def test_a_variant_without_options_is_one_line(tiny_synth, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.main(["--data-root", str(tiny_synth), "--profile", "tiny", "--variant", "bigger"])
    assert stop.value.code == 2 and "a name and at least one option" in capsys.readouterr().err


@pytest.mark.slow
def test_a_variant_is_timed_in_the_same_rounds_with_its_options(tiny_synth, tmp_path):
    """--variant: every method again with the variant's cfg-options; more sampled RoIs cost more FLOPs."""
    root = tmp_path / "synth"
    shutil.copytree(tiny_synth, root)
    out = tmp_path / "bench.json"
    assert bench.main(["--data-root", str(root), "--profile", "tiny", "--track", "detector", "--methods",
                       "Mask R-CNN", "--rounds", "1", "--batch", "2", "--threads", "1", "--out", str(out),
                       "--variant", "512 RoIs", "model.train_cfg.rcnn.sampler.num=512"]) == 0
    result = json.loads(out.read_text())
    assert list(result["methods"]) == ["Mask R-CNN", "Mask R-CNN [512 RoIs]"]
    assert result["variants"] == {"512 RoIs": ["model.train_cfg.rcnn.sampler.num=512"]}
    rows = result["methods"]
    assert rows["Mask R-CNN [512 RoIs]"]["gflop_per_image"] > rows["Mask R-CNN"]["gflop_per_image"]
