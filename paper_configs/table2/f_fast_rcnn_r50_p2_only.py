# Table 2(f): Fast R-CNN on the single finest level P2 (Sec. 5.2.1): every RoI is pooled from P2.
_base_ = './c_fast_rcnn_r50_fpn.py'

model = dict(
    neck=dict(_delete_=True, type='PaperFPN', in_channels=[256, 512, 1024, 2048],
              out_channels=256, levels=('p2', )),
    roi_head=dict(bbox_roi_extractor=dict(featmap_strides=[4])))
