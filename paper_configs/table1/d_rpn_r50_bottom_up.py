# Table 1(d): bottom-up pyramid, no top-down pathway (Sec. 5.1.1, "How important is top-down
# enrichment?"): 1x1 laterals + 3x3 convs on C2..C5, so P_k sees only C_k. Row (c), other neck.
_base_ = './c_rpn_r50_fpn.py'
custom_imports = dict(imports=['harness.models.necks'], allow_failed_imports=False)

model = dict(neck=dict(_delete_=True, type='BottomUpPyramid', in_channels=[256, 512, 1024, 2048],
                       out_channels=256, levels=('p2', 'p3', 'p4', 'p5', 'p6')))
