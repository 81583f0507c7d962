# Table 5, ResNet-50 shared, step 3 of the 4-step training (Ren et al. [29], Sec. 3.2 there):
# "use the detector network to initialize RPN training, but fix the shared convolutional layers
# and only fine-tune the layers unique to RPN". The harness loads the step-2 detector (Table 2(c))
# as `load_from` (published.yaml: init_from); the RPN head starts fresh. Schedule: Table 1(c)'s.
_base_ = '../table1/c_rpn_r50_fpn.py'

# Shared layers fixed: the whole backbone (stem + 4 stages: no gradients, BN frozen) and the FPN
# (learning rate and weight decay x0, so SGD leaves them bit-identical).
model = dict(backbone=dict(frozen_stages=4))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'neck': dict(lr_mult=0.0, decay_mult=0.0)}))
