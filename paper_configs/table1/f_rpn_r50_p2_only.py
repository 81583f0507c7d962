# Table 1(f): the head on the finest level P2 only (Sec. 5.1.1, "How important are pyramid
# representations?"): the full FPN, but "we assign all anchors to the P2 feature map".
_base_ = './c_rpn_r50_fpn.py'
custom_imports = dict(imports=['harness.models.necks'], allow_failed_imports=False)

model = dict(
    neck=dict(_delete_=True, type='PaperFPN', in_channels=[256, 512, 1024, 2048],
              out_channels=256, levels=('p2', )),
    rpn_head=dict(
        # 5 scales x 3 ratios at stride 4: scales 8..128 x 4 px = 32..512 px (15 anchors/position).
        anchor_generator=dict(scales=[8, 16, 32, 64, 128], ratios=[0.5, 1.0, 2.0], strides=[4])),
    # One level: py-faster-rcnn's TEST.RPN_PRE_NMS_TOP_N 6000 for the whole image (mmdet's
    # nms_pre is per level, and this is the only one).
    test_cfg=dict(rpn=dict(nms_pre=6000)))

# Row (c)'s per-level cut does not apply: this row follows py-faster-rcnn (None withdraws it).
paper_deviations = {'RPN pre-NMS boxes, test proposals': None}
