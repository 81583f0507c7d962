# Table 2(d): bottom-up pyramid, no top-down pathway (Sec. 5.2.1). Row (c), other neck.
_base_ = './c_fast_rcnn_r50_fpn.py'

# P6 is not built: Fast R-CNN pools from P2..P5 only (footnote 1).
model = dict(neck=dict(_delete_=True, type='BottomUpPyramid', in_channels=[256, 512, 1024, 2048],
                       out_channels=256, levels=('p2', 'p3', 'p4', 'p5')))
