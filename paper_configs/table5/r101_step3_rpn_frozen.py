# Table 5, ResNet-101 shared, step 3: as the ResNet-50 step 3, on the ResNet-101 RPN's setup,
# initialised from the ResNet-101 step-2 detector (table5.r101_no).
_base_ = './r101_rpn.py'

model = dict(backbone=dict(frozen_stages=4))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'neck': dict(lr_mult=0.0, decay_mult=0.0)}))
