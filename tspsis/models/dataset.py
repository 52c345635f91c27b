"""COCO-format dataset for partially supervised instance segmentation (box-only instances allowed)."""

from __future__ import annotations

from typing import Any, List, Optional, Union

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.registry import DATASETS

from tspsis.data.validate import validate_coco

__all__ = ["PartialCocoDataset"]


@DATASETS.register_module()
class PartialCocoDataset(CocoDataset):
    """``CocoDataset`` for split training files where unseen-category instances have a box but no mask.

    Differences from ``CocoDataset``:
      * the annotation file is checked with :func:`tspsis.data.validate.validate_coco` first (images under
        ``data_prefix['img']`` too unless ``check_images=False``), so bad input fails with a message naming
        the file, the annotation and the field; the validated dict is indexed directly (read once);
      * without ``metainfo['classes']`` the class names are the file's categories in id order (the synthetic
        set's own names; for COCO these equal ``CocoDataset.METAINFO['classes']``, which is then kept);
      * every instance carries ``has_mask`` (bool): True iff the annotation has a non-empty segmentation.
        Box-only instances are kept (``CocoDataset`` already keeps them, and images whose instances are all
        box-only pass ``filter_empty_gt``: the category-image index counts every annotation).
    Use with ``LoadPartialAnnotations`` / ``PackPartialDetInputs`` (``tspsis.models.loading``).
    """

    def __init__(self, *args: Any, check_images: bool = True, metainfo: Optional[dict] = None,
                 **kwargs: Any) -> None:
        self.check_images = check_images
        self._classes_from_file = not (metainfo and "classes" in metainfo)
        super().__init__(*args, metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        coco_dict = validate_coco(self.ann_file, self.data_prefix.get("img") or None,
                                  check_images=self.check_images)
        if self._classes_from_file:
            self._set_classes([category["name"] for category in sorted(coco_dict["categories"],
                                                                       key=lambda category: category["id"])])
        coco = COCO()
        coco.dataset = coco_dict
        coco.createIndex()
        coco.img_ann_map, coco.cat_img_map = coco.imgToAnns, coco.catToImgs  # mmdet's aliases, set in __init__
        # CocoDataset.load_data_list builds its COCO index from the file path through ``self.COCOAPI``;
        # hand it the index of the dict validated above instead of parsing the file a second time.
        self.COCOAPI = lambda _path: coco
        try:
            return super().load_data_list()
        finally:
            del self.COCOAPI

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
