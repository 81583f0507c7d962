# Table 6(e), + 2x train schedule: row (d) trained for twice the iterations (Sec. 6: "doubling the
# training iterations"): 160k mini-batches, lr / 10 after 120k (both steps doubled).
_base_ = './d_segprop_r50_fpn_dual_mlp_mask28.py'

train_cfg = dict(max_iters=160000, val_interval=160000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=160000, milestones=[120000], gamma=0.1),
]
