"""Segmentation proposals on an FPN (Lin et al. 2017, Sec. 6 and Appendix A; Table 6).

A dense, fully convolutional DeepMask-style proposer on P2..P6 (d = 128):

    for each MLP m in {5x5, 7x7} (shared by all levels) and each level P_k (stride 2^k):
        h      = ReLU(conv_{m x m}(P_k) -> 512)          the "5x5 kernel with 512 outputs"
        score  = conv1x1(h) -> 1                          objectness of the window at each cell
        mask   = conv1x1(h) -> S*S  (S = 14, or 28)       the mask of that window

A *slot* is one (MLP, level) pair. Its canonical object scale is 32 * 2^(k-2) px for the 5x5 MLP
(32..512 on P2..P6) and sqrt(2) times that for the 7x7 MLP (half octaves); its window (the image
region its mask covers) is 1.25x the canonical scale (25 % padding: 40..640 px, and sqrt(2)
larger for 7x7). The window of cell (y, x) on level k is centred on the cell centre
((x + 0.5) * 2^k, (y + 0.5) * 2^k) in network-input pixels.

Target assignment (``assign_targets``, pure and unit-tested):
  * an object's scale is max(w, h) of its box, snapped to the nearest canonical scale in log2
    space over the slots of the active MLPs (ties go to the smaller scale; objects outside
    32..512*sqrt(2) go to the smallest / largest slot);
  * "+-1 cell" (Appendix A: "whose center falls within 2^k pixels of that location"): the
    object is a positive of every cell of its slot's level whose centre is within 2^k pixels of
    the object's box centre in both x and y (Chebyshev distance <= stride, inclusive). An object
    centred exactly on a cell centre thus owns the 3x3 block around it (fewer at the map border);
    an object centred elsewhere owns 2 or 3 cells per axis;
  * a cell claimed by two objects of the same slot keeps the one whose centre is nearer
    (Euclidean; then the lower ground-truth index);
  * every other cell of every slot is a negative (also cells near the centre of an object whose
    scale maps to another slot): negatives train only the score branch.

Training: 128 sampled cells per image over all slots and levels, at most 25 % positives (1:3),
filled with negatives (as mmdet's RandomSampler); score loss BCE over the samples, mask loss
per-pixel BCE over the positive samples only, weighted x10. The mask target is the object's
mask cropped to the cell's window and resized to S x S (RoIAlign, binarised at 0.5).

Test: scores at every cell of every slot; the 1000 highest over all slots and levels; their
masks (computed only for those cells), pasted into their windows in ORIGINAL image coordinates
(the Resize undone with scale_factor), thresholded at 0.5 and RLE-encoded one at a time inside the
head, so 1000 full-size masks never sit in memory together. No NMS.

Modules: assign.py (slots and target assignment, pure), paste.py (masks into their windows,
RLE), head.py (the MLPs and the head's loss and predict), detector.py (backbone + FPN + head as
an mmdet detector), metric.py (segment AR, class-agnostic, harness/evaluation/)."""
from harness.models.segment.assign import (Assignment, Slot, assign_targets, featmap_size,
                                           make_slots, slot_of_scale)
from harness.models.segment.detector import FPNSegmentProposer
from harness.models.segment.head import FPNMaskProposalHead
from harness.models.segment.metric import SegmentProposalMetric, segment_ar
from harness.models.segment.paste import paste_rle, paste_rles, window_boxes

__all__ = ["Assignment", "FPNMaskProposalHead", "FPNSegmentProposer", "SegmentProposalMetric",
           "Slot", "assign_targets", "featmap_size", "make_slots", "paste_rle", "paste_rles",
           "segment_ar", "slot_of_scale", "window_boxes"]
