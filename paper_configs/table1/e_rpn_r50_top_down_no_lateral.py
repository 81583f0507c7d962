# Table 1(e): top-down pyramid without the 1x1 lateral connections (Sec. 5.1.1, "How important
# are lateral connections?"): only C5 enters; P2..P5 are upsampled from it. Row (c), other neck.
_base_ = './c_rpn_r50_fpn.py'
custom_imports = dict(imports=['harness.models.necks'], allow_failed_imports=False)

model = dict(neck=dict(_delete_=True, type='TopDownNoLateral', in_channels=[256, 512, 1024, 2048],
                       out_channels=256, levels=('p2', 'p3', 'p4', 'p5', 'p6')))
