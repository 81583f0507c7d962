# Table 1(b): RPN baseline on the single-scale C5 map (Sec. 5.1.1). Row (c) with the head on C5.
_base_ = './c_rpn_r50_fpn.py'

model = dict(
    # C5 = output of conv5, stride 32.
    backbone=dict(out_indices=(3, )),
    neck=None,
    rpn_head=dict(
        # The head's 3x3 conv keeps its input width, 2048 (declared below).
        in_channels=2048, feat_channels=2048,
        # 5 scales x 3 ratios at stride 32: scales 1..16 x 32 px = 32..512 px.
        anchor_generator=dict(scales=[1, 2, 4, 8, 16], ratios=[0.5, 1.0, 2.0], strides=[32])),
    # One level: py-faster-rcnn's TEST.RPN_PRE_NMS_TOP_N 6000 for the whole image.
    test_cfg=dict(rpn=dict(nms_pre=6000)))

paper_deviations = {
    # Row (c)'s per-level cut does not apply: this row follows py-faster-rcnn (None withdraws it).
    'RPN pre-NMS boxes, test proposals': None,
    'RPN head conv width': 'not stated for C5, and py-faster-rcnn has no ResNet model; its RPN '
                           'convs are as wide as the map they slide on (ZF conv5 256 -> 256, '
                           'VGG16 conv5_3 512 -> 512), as Detectron\'s single-scale RPN '
                           '(dim_out = dim_in): 2048 on C5',
}
