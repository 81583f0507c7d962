# Table 5 / Table 4, step 1 for ResNet-101: the Table 1(c) FPN RPN on a ResNet-101 (Sec. 5.2.2-5.2.3).
# Everything else is Table 1(c)'s.
_base_ = '../table1/c_rpn_r50_fpn.py'

model = dict(backbone=dict(
    depth=101,  # the MSRA caffe ResNet-101, as mmdet's faster-rcnn_r101-caffe_fpn configs use
    init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://detectron2/resnet101_caffe')))
