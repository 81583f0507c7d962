# Table 6(d), + 2x mask resolution: the dual-MLP row with 28x28 instead of 14x14 masks (Sec. 6:
# "Increasing mask output size from 14x14 to 28x28 increases AR another point").
_base_ = './c_segprop_r50_fpn_dual_mlp.py'

model = dict(head=dict(mask_size=28))
