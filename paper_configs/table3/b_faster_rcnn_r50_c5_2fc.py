# Table 3(b): Faster R-CNN baseline on C5 with the 2-fc head, without feature sharing (Sec. 5.2.2):
# the Table 2(b) detector on the proposals of the C5 RPN of Table 1(b).
_base_ = '../table2/b_fast_rcnn_r50_c5_2fc.py'
