# Table 2(a): the ResNet Fast R-CNN baseline of He et al. [16] on C4 (Sec. 5.2.1): "RoI pooling
# with an output size of 14x14 and all conv5 layers as the hidden layers of the head".
# Row (c) with the feature map and the head changed.
_base_ = './c_fast_rcnn_r50_fpn.py'
norm_cfg = dict(type='BN', requires_grad=False)

model = dict(
    backbone=dict(num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, )),
    neck=None,
    roi_head=dict(
        # conv5 (ResNet stage 4, stride 2 inside the head), initialised from the same ImageNet model.
        shared_head=dict(
            type='ResLayer', depth=50, stage=3, stride=2, dilation=1, style='caffe',
            norm_cfg=norm_cfg, norm_eval=True,
            init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://detectron2/resnet50_caffe')),
        bbox_roi_extractor=dict(
            roi_layer=dict(_delete_=True, type='DeviceRoIPool', output_size=14),
            out_channels=1024, featmap_strides=[16]),
        # conv5 output (2048 x 7 x 7) is average-pooled before the classifier and regressor.
        bbox_head=dict(_delete_=True, type='BBoxHead', with_avg_pool=True, roi_feat_size=7,
                       in_channels=2048, num_classes=80,
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.],
                                       target_stds=[0.1, 0.1, 0.2, 0.2]),
                       reg_class_agnostic=False,
                       loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                       loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))))
