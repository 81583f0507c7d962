# Table 6(b), single MLP [7x7]: only the 7x7 MLP, whose canonical scales are the half octaves
# {32..512} x sqrt(2) on {P2..P6} (windows sqrt(2) x 40..640 px); every object goes to the nearest.
_base_ = './c_segprop_r50_fpn_dual_mlp.py'

model = dict(head=dict(mlps=('7x7',)))
