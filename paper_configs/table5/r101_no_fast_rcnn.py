# Table 5, ResNet-101 without sharing: the Table 2(c) Fast R-CNN on a ResNet-101, on the proposals
# of the ResNet-101 RPN (table5.r101_rpn). It is also step 2 of the ResNet-101 4-step training.
_base_ = '../table2/c_fast_rcnn_r50_fpn.py'

model = dict(backbone=dict(
    depth=101,
    init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://detectron2/resnet101_caffe')))
