# Table 1(b): RPN baseline on the single-scale C5 map (Sec. 5.1.1). Row (c) with the head on C5.
_base_ = './c_rpn_r50_fpn.py'

model = dict(
    # C5 = output of conv5, stride 32.
    backbone=dict(out_indices=(3, )),
    neck=None,
    rpn_head=dict(
        in_channels=2048, feat_channels=2048,
        # 5 scales x 3 ratios at stride 32: scales 1..16 x 32 px = 32..512 px.
        anchor_generator=dict(scales=[1, 2, 4, 8, 16], ratios=[0.5, 1.0, 2.0], strides=[32])),
    test_cfg=dict(rpn=dict(nms_pre=6000)))
