"""COCO-format dataset for partially supervised instance segmentation (box-only instances allowed)."""

from __future__ import annotations

import os.path as osp
from typing import Any, List, Optional, Sequence, Union

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.registry import DATASETS

from tspsis.core.validate import validate_coco
from tspsis.core.io import read_json

__all__ = ["PartialCocoDataset", "check_same_labels", "label_order"]


def label_order(categories: Sequence[dict], classes: Optional[Sequence[str]], path: str) -> List[dict]:
    """The categories that get labels 0, 1, ..., in label order.

    classes None: every category of the file, in id order (whatever order the file lists them in). Otherwise the
    categories named by `classes`, in that order; a name the file lacks raises (naming `path`), where mmdet would
    silently shift every later label.
    """
    if classes is None:
        return sorted(categories, key=lambda category: category["id"])
    by_name = {category["name"]: category for category in categories}
    missing = [name for name in classes if name not in by_name]
    if missing:
        raise ValueError(f"{path}: metainfo classes {missing} are not categories of the file "
                         f"(its categories: {sorted(by_name)})")
    return [by_name[name] for name in classes]


def check_same_labels(first_path: str, first: Sequence[dict], second_path: str, second: Sequence[dict]) -> None:
    """ValueError naming both files unless label l is the same category (id and name) in both, for every l.

    first, second: the categories in label order (:func:`label_order`) of each file.
    """
    pairs = [[(int(category["id"]), category["name"]) for category in categories] for categories in (first, second)]
    if pairs[0] == pairs[1]:
        return
    differ = [f"label {label}: {a} vs {b}" for label, (a, b) in enumerate(zip(*pairs)) if a != b]
    if len(pairs[0]) != len(pairs[1]):
        differ.append(f"{len(pairs[0])} vs {len(pairs[1])} categories")
    raise ValueError(f"{first_path} and {second_path} give the labels to different categories (id, name), so a model "
                     f"trained on one would be scored on wrong categories in the other: {'; '.join(differ[:5])}")


@DATASETS.register_module()
class PartialCocoDataset(CocoDataset):
    """``CocoDataset`` for split training files where unseen-category instances have a box but no mask.

    Differences from ``CocoDataset``:
      * the annotation file is checked with :func:`tspsis.core.validate.validate_coco` first (images under
        ``data_prefix['img']`` too unless ``check_images=False``), so bad input fails with a message naming
        the file, the annotation and the field; the validated dict is indexed directly (read once);
      * one label order for names and ids (:func:`label_order`): without ``metainfo['classes']`` label l is the
        file's l-th category by id, and the class names are the file's in that order (the synthetic set's own
        names; for COCO these equal ``CocoDataset.METAINFO['classes']``, which is then kept); with it, label l is
        the category named ``classes[l]``. (mmdet's ``CocoDataset`` names the labels by ``classes`` but numbers
        them in the file's listing order, which differ when a file lists its categories out of order.)
        In ``test_mode`` the file must list its categories in label order, because mmdet's ``CocoMetric``, which
        scores the file, maps label l to the l-th listed category: otherwise loading raises.
      * ``same_categories_as``: another annotation file (e.g. the validation file for the training set; relative
        paths are joined to ``data_root``) whose labels must be the same categories: loading raises, naming both
        files, if a label would mean another category in the other file (:func:`check_same_labels`);
      * every instance carries ``has_mask`` (bool): True iff the annotation has a non-empty segmentation.
        Box-only instances are kept (``CocoDataset`` already keeps them, and images whose instances are all
        box-only pass ``filter_empty_gt``: the category-image index counts every annotation).
    Use with ``LoadPartialAnnotations`` / ``PackPartialDetInputs`` (``tspsis.plugin.transforms.loading``).
    """

    def __init__(self, *args: Any, check_images: bool = True, same_categories_as: Optional[str] = None,
                 metainfo: Optional[dict] = None, **kwargs: Any) -> None:
        self.check_images = check_images
        self.same_categories_as = same_categories_as
        self._classes_from_file = not (metainfo and "classes" in metainfo)
        super().__init__(*args, metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        coco_dict = validate_coco(self.ann_file, self.data_prefix.get("img") or None,
                                  check_images=self.check_images)
        classes = None if self._classes_from_file else tuple(self._metainfo["classes"])
        labelled = label_order(coco_dict["categories"], classes, self.ann_file)
        if self._classes_from_file:
            self._set_classes([category["name"] for category in labelled])
        if self.test_mode:
            self._check_listing_order(coco_dict["categories"], labelled)
        if self.same_categories_as:
            reference = self._resolve(self.same_categories_as)
            categories = read_json(reference, "annotation").get("categories")
            if not isinstance(categories, list):
                raise ValueError(f"{reference}: field 'categories' must be a list (same_categories_as of "
                                 f"{self.ann_file})")
            check_same_labels(self.ann_file, labelled, reference, label_order(categories, classes, reference))

        # The index lists the labelled categories first, in label order: CocoDataset numbers the labels in the
        # index's order (get_cat_ids), so names and ids agree.
        ids = {category["id"] for category in labelled}
        coco = COCO()
        rest = [category for category in coco_dict["categories"] if category["id"] not in ids]
        coco.dataset = {**coco_dict, "categories": labelled + rest}
        coco.createIndex()
        coco.img_ann_map, coco.cat_img_map = coco.imgToAnns, coco.catToImgs  # mmdet's aliases, set in __init__
        # CocoDataset.load_data_list builds its COCO index from the file path through ``self.COCOAPI``;
        # hand it the index of the dict validated above instead of parsing the file a second time.
        self.COCOAPI = lambda _path: coco
        try:
            data_list = super().load_data_list()
        finally:
            del self.COCOAPI
        assert list(self.cat_ids) == [category["id"] for category in labelled], (self.cat_ids, labelled)
        return data_list

    def _check_listing_order(self, listed: Sequence[dict], labelled: Sequence[dict]) -> None:
        """In test mode: the file lists the labelled categories in label order (what mmdet's CocoMetric assumes)."""
        names = {category["name"] for category in labelled}
        listing = [category["id"] for category in listed if category["name"] in names]
        order = [category["id"] for category in labelled]
        if listing != order:
            raise ValueError(f"{self.ann_file}: lists its categories (ids {listing}) in another order than their "
                             f"labels (ids {order}); mmdet's CocoMetric maps label l to the l-th listed category, so "
                             "it would score every prediction against another category: list the categories in "
                             "id order (or give metainfo classes in the file's order)")

    def _resolve(self, path: str) -> str:
        return path if osp.isabs(path) or not self.data_root else osp.join(self.data_root, path)

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        for ann in raw_data_info["raw_ann_info"]:
            ann.setdefault("area", ann["bbox"][2] * ann["bbox"][3])  # box-only files may omit it
        data_info = super().parse_data_info(raw_data_info)
        for instance in data_info["instances"]:
            instance["has_mask"] = "mask" in instance  # CocoDataset copies only non-empty segmentations
        return data_info

    def _set_classes(self, names: list[str]) -> None:
        """Use the file's class names; a palette of another length (COCO's 80 colours) is cut or cycled."""
        if tuple(names) == tuple(self._metainfo["classes"]):
            return
        self._metainfo["classes"] = tuple(names)
        palette = self._metainfo.get("palette") or CocoDataset.METAINFO["palette"]
        if len(palette) != len(names):
            self._metainfo["palette"] = [palette[index % len(palette)] for index in range(len(names))]
