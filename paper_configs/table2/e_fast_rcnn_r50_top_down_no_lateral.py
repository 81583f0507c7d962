# Table 2(e): top-down pyramid without lateral connections (Sec. 5.2.1). Row (c), other neck.
_base_ = './c_fast_rcnn_r50_fpn.py'

model = dict(neck=dict(_delete_=True, type='TopDownNoLateral', in_channels=[256, 512, 1024, 2048],
                       out_channels=256, levels=('p2', 'p3', 'p4', 'p5')))
