"""What a detector confuses when categories combine attributes: box AP with categories merged by each attribute, and
how often a detection that finds an object names each attribute right (``tspsis.eval.attributes``).

The synthetic benchmark's categories are appearance x shape family (fields of its category records):

    python scripts/detection_attributes.py data/synth/demo-s1/annotations/val.json \
        data/synth/demo-s1/pretrained/*detection*/test.bbox.json

Prints one markdown row per detections file.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tspsis.eval.attributes import SIZE_BUCKETS, attribute_accuracy, attribute_box_ap


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ground_truth", type=Path, help="COCO annotation file of the images the detections are on")
    ap.add_argument("detections", type=Path, nargs="+", help="COCO box results (a run's test.bbox.json)")
    ap.add_argument("--attributes", nargs="+", default=["appearance", "shape_family"],
                    help="fields of the category records")
    ap.add_argument("--min-score", type=float, default=0.3, help="detections counted by the accuracy")
    ap.add_argument("--by-size", action="store_true", help="also each attribute's accuracy on COCO's small, medium "
                                                           "and large objects (the others left out)")
    args = ap.parse_args(argv)
    merged = " | ".join(f"box AP / AP50, merged by {a}" for a in args.attributes)
    named = " | ".join(f"{a} named right" for a in args.attributes)
    print(f"| detections | box AP / AP50 | class-agnostic box AP / AP50 | {merged} | {named} | detections that find "
          f"an object (score >= {args.min_score}) |\n" + "|---" * (4 + 2 * len(args.attributes)) + "|")
    for path in args.detections:
        records = attribute_box_ap(args.ground_truth, path, args.attributes)
        accuracy = {a: attribute_accuracy(args.ground_truth, path, a, min_score=args.min_score)
                    for a in args.attributes}
        cells = [f"{records[k]['AP']:.1f} / {records[k]['AP50']:.1f}"
                 for k in ("category", "class-agnostic", *args.attributes)]
        cells += [f"{100 * accuracy[a]['accuracy']:.1f} %" for a in args.attributes]
        print(f"| {path} | " + " | ".join(cells) + f" | {accuracy[args.attributes[0]]['matched']} |")
        if args.by_size:
            for attribute in args.attributes:
                by_size = {size: attribute_accuracy(args.ground_truth, path, attribute, min_score=args.min_score,
                                                    area_range=bounds) for size, bounds in SIZE_BUCKETS.items()}
                print(f"  {attribute} named right, by object size: " + ", ".join(
                    f"{size} {100 * a['accuracy']:.1f} % of {a['matched']}" for size, a in by_size.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
