# Table 6(a), single MLP [5x5]: Table 6's dual-MLP row without the half-octave 7x7 MLP; every
# object goes to the nearest octave scale {32..512} on {P2..P6} (Appendix A).
_base_ = './c_segprop_r50_fpn_dual_mlp.py'

model = dict(head=dict(mlps=('5x5',)))
