"""harness/data/coco.py's category list is mmdet's: the paper configs run on the harness's data
unchanged, and validating a data root needs no mmdet import."""
from __future__ import annotations

from harness.data.coco import COCO_CATEGORIES, COCO_CLASSES
from harness.data.synth import CATEGORIES


def test_categories_are_real_coco_classes_so_paper_configs_run_unchanged() -> None:
    from mmdet.datasets import CocoDataset
    classes = CocoDataset.METAINFO["classes"]
    for c in CATEGORIES:
        assert c["name"] in classes, c
    assert len({c["id"] for c in CATEGORIES}) == len(CATEGORIES)
    # the full list is COCO's, in mmdet's class order (label index -> category id)
    assert tuple(name for _, name in COCO_CATEGORIES) == tuple(classes)
    assert (84, "book") in COCO_CATEGORIES and (37, "sports ball") in COCO_CATEGORIES
    assert COCO_CLASSES == tuple(classes)
