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
    # nms_pre is per level: give the single level the single-scale budget (notes §4).
    test_cfg=dict(rpn=dict(nms_pre=6000)))
