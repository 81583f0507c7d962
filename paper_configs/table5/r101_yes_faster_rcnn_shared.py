# Table 5, ResNet-101 with shared features: the ResNet-50 merged model on a ResNet-101
# (steps 3 and 4: table5.r101_step3, table5.r101_step4).
_base_ = './r50_yes_faster_rcnn_shared.py'

model = dict(backbone=dict(
    depth=101,
    init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://detectron2/resnet101_caffe')))
