# Table 5, ResNet-50 shared, step 4 of the 4-step training (Ren et al. [29]): "keeping the shared
# convolutional layers fixed, we fine-tune the unique layers of Fast R-CNN", on the proposals of
# the step-3 RPN. Initialised from the step-2 detector (Table 2(c)), whose backbone and FPN step 3
# kept unchanged, so both heads of the merged model see exactly these shared layers.
_base_ = '../table2/c_fast_rcnn_r50_fpn.py'

model = dict(backbone=dict(frozen_stages=4))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'neck': dict(lr_mult=0.0, decay_mult=0.0)}))
