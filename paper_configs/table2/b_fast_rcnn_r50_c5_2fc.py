# Table 2(b): baseline on C5 with the same 2-fc head as FPN (Sec. 5.2.1). Row (c) with the head
# on the single stride-32 map.
_base_ = './c_fast_rcnn_r50_fpn.py'

model = dict(
    backbone=dict(out_indices=(3, )),
    neck=None,
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=2048, featmap_strides=[32]),
        bbox_head=dict(in_channels=2048)))
