# Table 3(a): Faster R-CNN baseline on C4 without feature sharing (Sec. 5.2.2): the Table 2(a)
# detector trained and tested on the proposals of the C4 RPN of Table 1(a) (consistent backbones;
# the harness wires the proposals from `proposals_from` in published.yaml).
_base_ = '../table2/a_fast_rcnn_r50_c4.py'
