# Table 1(a): RPN baseline on the single-scale C4 map (Sec. 5.1.1, "Comparisons with baselines").
# "using the same hyper-parameters as ours, including 5 scale anchors of {32^2..512^2}":
# so this is row (c) with one change, the feature map the head sees.
_base_ = './c_rpn_r50_fpn.py'

model = dict(
    # C4 = output of conv4 (ResNet stages 1-3), stride 16, as in He et al. [16].
    backbone=dict(num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, )),
    neck=None,
    rpn_head=dict(
        # The single-scale RPN head keeps its input width (He et al.'s C4 RPN: 1024 channels).
        in_channels=1024, feat_channels=1024,
        # 5 scales x 3 ratios at stride 16: scales 2..32 x 16 px = 32..512 px.
        anchor_generator=dict(scales=[2, 4, 8, 16, 32], ratios=[0.5, 1.0, 2.0], strides=[16])),
    # A single level: the per-level pre-NMS budget is the whole image's (as mmdet's C4 RPN).
    test_cfg=dict(rpn=dict(nms_pre=6000)))
