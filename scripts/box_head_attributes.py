"""What a checkpoint's box head names on the exact boxes: its class (argmax over the categories, background left out) for
every ground-truth box of the val images, scored by category and by each attribute of the category records (the
synthetic benchmark's ``appearance`` and ``shape_family``). Separates the box head's naming from the RPN's finding.

    python scripts/box_head_attributes.py data/synth/demo-s1 \
        data/synth/demo-s1/pretrained/*box_classification+1500it-*/iter_1500.pth \
        data/synth/demo-s1/pretrained/*detection+1800it-*/iter_1800.pth

Each checkpoint's model is built from the resolved config next to it (the run's dumped ``*.py``). One thread, CPU.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from tspsis.core.io import read_json

ATTRIBUTES = ("appearance", "shape_family")


def _model(checkpoint: Path):
    """The run's model (its dumped config beside the checkpoint) with the checkpoint's weights, in eval mode."""
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint

    import tspsis.plugin  # noqa: F401  (registers the plugin)
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    configs = [p for p in checkpoint.parent.glob("*.py") if not p.name.startswith("test-")]
    if len(configs) != 1:
        raise SystemExit(f"{checkpoint.parent}: expected one dumped config (*.py) beside the checkpoint, found "
                         f"{len(configs)}")
    model = MODELS.build(Config.fromfile(str(configs[0])).model)
    load_checkpoint(model, str(checkpoint), map_location="cpu", logger="silent")
    return model.eval()


@torch.no_grad()
def named_right(checkpoint: Path, data_root: Path) -> dict[str, float]:
    """{category, appearance, shape_family: % of the val ground-truth boxes the box head names right}."""
    import mmcv
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import bbox2roi

    model = _model(checkpoint)
    ground_truth = read_json(data_root / "annotations" / "val.json", "ground truth")
    categories = {c["id"]: c for c in ground_truth["categories"]}
    category_of_label = sorted(categories)  # mmdet's labels follow the categories' order by id
    boxes_of: dict[int, list[dict]] = {}
    for annotation in ground_truth["annotations"]:
        boxes_of.setdefault(annotation["image_id"], []).append(annotation)
    right = dict.fromkeys(("category", *ATTRIBUTES), 0)
    extractor = model.roi_head.bbox_roi_extractor
    for image in ground_truth["images"]:
        if not (annotations := boxes_of.get(image["id"])):
            continue
        pixels = mmcv.imread(str(data_root / "val" / image["file_name"]))  # BGR, as the pipeline loads it
        sample = DetDataSample(metainfo=dict(img_shape=pixels.shape[:2], ori_shape=pixels.shape[:2]))
        batch = model.data_preprocessor({"inputs": [torch.from_numpy(pixels).permute(2, 0, 1).contiguous()],
                                         "data_samples": [sample]}, False)
        features = model.extract_feat(batch["inputs"])
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in annotations)])
        scores, _ = model.roi_head.bbox_head(extractor(features[:extractor.num_inputs], bbox2roi([boxes.float()])))
        for annotation, label in zip(annotations, scores[:, :-1].argmax(1).tolist()):
            truth, named = categories[annotation["category_id"]], categories[category_of_label[label]]
            right["category"] += truth["id"] == named["id"]
            for attribute in ATTRIBUTES:
                right[attribute] += truth[attribute] == named[attribute]
    total = len(ground_truth["annotations"])
    return {key: 100.0 * count / total for key, count in right.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root", type=Path, help="synthetic data (annotations/val.json, val/)")
    ap.add_argument("checkpoints", type=Path, nargs="+")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print("| checkpoint | category named right | " + " | ".join(f"{a} named right" for a in ATTRIBUTES) + " |\n"
          + "|---" * (2 + len(ATTRIBUTES)) + "|")
    for checkpoint in args.checkpoints:
        named = named_right(checkpoint, args.data_root)
        print(f"| {checkpoint} | " + " | ".join(f"{named[k]:.1f} %" for k in ("category", *ATTRIBUTES)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
