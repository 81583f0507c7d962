# Table 1(a): RPN baseline on the single-scale C4 map (Sec. 5.1.1, "Comparisons with baselines").
# "using the same hyper-parameters as ours, including 5 scale anchors of {32^2..512^2}":
# so this is row (c) with one change, the feature map the head sees.
_base_ = './c_rpn_r50_fpn.py'

model = dict(
    # C4 = output of conv4 (ResNet stages 1-3), stride 16, as in He et al. [16].
    backbone=dict(num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, )),
    neck=None,
    rpn_head=dict(
        # The head's 3x3 conv keeps its input width, 1024 (declared below).
        in_channels=1024, feat_channels=1024,
        # 5 scales x 3 ratios at stride 16: scales 2..32 x 16 px = 32..512 px.
        anchor_generator=dict(scales=[2, 4, 8, 16, 32], ratios=[0.5, 1.0, 2.0], strides=[16])),
    # One level: py-faster-rcnn's TEST.RPN_PRE_NMS_TOP_N 6000 for the whole image.
    test_cfg=dict(rpn=dict(nms_pre=6000)))

paper_deviations = {
    # Row (c)'s per-level cut does not apply: this row follows py-faster-rcnn (None withdraws it).
    'RPN pre-NMS boxes, test proposals': None,
    'RPN head conv width': 'not stated for C4, and py-faster-rcnn has no ResNet model; its RPN '
                           'convs are as wide as the map they slide on (ZF conv5 256 -> 256, '
                           'VGG16 conv5_3 512 -> 512), as Detectron\'s single-scale RPN '
                           "(dim_out = dim_in) and mmdet's C4 RPN: 1024 on C4",
}
