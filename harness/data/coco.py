"""COCO 2017 as the harness reads it: its splits and file layout, and its category list (the 80
(id, name) pairs in COCO order).

mmdet's CocoDataset keeps images only of these class names, and CocoMetric maps a model's label
index (0..79) back to a category id through the annotation file's list of them, so every
annotation file the harness makes or accepts lists all 80. Kept here (not read from mmdet) so
that validating a data root never imports torch; tests/component/test_coco_classes.py checks it
equals mmdet's CocoDataset.METAINFO."""

from pathlib import Path

from harness.paper.constants import PROPOSALS_PER_IMAGE

# COCO test-dev (image list only, scored by the COCO server): an RPN's proposals are dumped for
# it too when the data root has it, so that Table 4's detector can write its result file.
TEST_DEV = "test-dev2017"
TEST_DEV_ANN, TEST_DEV_IMAGES = "annotations/image_info_test-dev2017.json", "test2017/"


# The full COCO splits, by annotation file name: (images, annotations); test-dev's image list
# has no annotations (None). A run is judged against the paper only on these sizes
# (harness/orchestrate/reproduction.py): a subset or the synthetic set is not the paper's data.
# train2014 is the training set of Table 6's segment proposals in the paper.
SPLIT_SIZES = {
    "instances_train2017.json": ("train2017", 118287, 860001),
    "instances_val2017.json": ("val2017", 5000, 36781),
    "image_info_test-dev2017.json": ("test-dev2017", 20288, None),
    "instances_train2014.json": ("train2014", 82783, 604907),
}


def has_test_dev(data_root: Path) -> bool:
    return (Path(data_root) / TEST_DEV_ANN).is_file() and (Path(data_root) / TEST_DEV_IMAGES).is_dir()


def proposal_splits(data_root: Path) -> dict[str, tuple[str, str, int]]:
    """The splits an RPN's proposals are dumped for: split -> (annotation file relative to the
    data root, image folder, proposals per image)."""
    out = {s: (f"annotations/instances_{s}.json", f"{s}/", n) for s, n in PROPOSALS_PER_IMAGE.items()}
    if has_test_dev(data_root):
        out[TEST_DEV] = (TEST_DEV_ANN, TEST_DEV_IMAGES, PROPOSALS_PER_IMAGE["val2017"])
    return out


COCO_CATEGORIES = tuple(zip(
    (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
     31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
     56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
     85, 86, 87, 88, 89, 90),
    ("person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
     "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
     "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
     "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
     "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
     "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
     "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
     "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
     "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
     "teddy bear", "hair drier", "toothbrush")))



COCO_CLASSES = tuple(name for _, name in COCO_CATEGORIES)
