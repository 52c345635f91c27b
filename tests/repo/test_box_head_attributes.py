"""scripts/box_head_attributes.py: the box head's label of each ground-truth box, mapped to its category and scored
per attribute; a head that always names one category scores exactly that category's share of the boxes."""
import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from tspsis import lab

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "box_head_attributes.py"
spec = importlib.util.spec_from_file_location("box_head_attributes", SCRIPT)
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def run(data_root, tmp_path_factory):
    """A box-classification pre-training's folder as a finished run leaves it: the dumped config and a checkpoint
    (here the untrained model's weights)."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    work_dir = tmp_path_factory.mktemp("run")
    cfg = lab.pretraining("tiny", data_root).request.resolved_config(work_dir)
    cfg.dump(str(work_dir / "pretraining.py"))
    torch.save({"state_dict": MODELS.build(cfg.model).state_dict()}, work_dir / "iter_2.pth")
    return work_dir / "iter_2.pth"


@pytest.mark.parametrize("label", [0, 5, 23])
def test_a_head_naming_one_category_scores_that_categorys_share(run, data_root, monkeypatch, label):
    from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead

    def always(self, features):  # class scores that put label first, for every RoI
        scores = torch.zeros(len(features), self.num_classes + 1)
        scores[:, label] = 1.0
        return scores, torch.zeros(len(features), 4)

    monkeypatch.setattr(ConvFCBBoxHead, "forward", always)
    ground_truth = json.loads((data_root / "annotations" / "val.json").read_text())
    categories = {c["id"]: c for c in ground_truth["categories"]}
    named = categories[sorted(categories)[label]]
    counts = Counter(a["category_id"] for a in ground_truth["annotations"])
    total = sum(counts.values())

    def share(attribute):
        return 100 * sum(n for c, n in counts.items() if categories[c][attribute] == named[attribute]) / total

    assert script.named_right(run, data_root) == pytest.approx(
        {"category": 100 * counts[named["id"]] / total, "appearance": share("appearance"),
         "shape_family": share("shape_family")})
