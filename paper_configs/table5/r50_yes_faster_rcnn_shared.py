# Table 5, ResNet-50 with shared features: the 4-step training's final model (Sec. 5.2.2; Ren et
# al. [29]). One Faster R-CNN whose RPN head (step 3) and Fast R-CNN head (step 4) sit on one
# backbone + FPN. Nothing is trained: the harness merges the two step checkpoints into this model
# (`load_from`, published.yaml: merge) and tests it once, images in, detections out, the RPN's
# 1000 proposals per image fed straight to the detector.
# The model repeats Table 1(c)'s RPN head and Table 2(c)'s RoI head on mmdet's caffe R-50 FPN
# Faster R-CNN; tests/test_four_step.py loads a merged checkpoint with strict=True, so a mismatch
# with the step configs fails there.
_base_ = ['{{$MMDET_CONFIGS:}}/faster_rcnn/faster-rcnn_r50-caffe_fpn_1x_coco.py',
          '../_base_/mmdet_choices.py']
custom_imports = dict(imports=['harness.models.roi_pool', 'harness.models.necks'], allow_failed_imports=False)

model = dict(
    neck=dict(out_channels=256, num_outs=5, add_extra_convs=False,       # Sec. 3, as 1(c)/2(c)
              upsample_cfg=dict(mode='nearest')),
    rpn_head=dict(  # Table 1(c) (Sec. 4.1)
        anchor_generator=dict(scales=[8], ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64]),
        loss_bbox=dict(_delete_=True, type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=1.0)),
    roi_head=dict(  # Table 2(c) (Sec. 4.2)
        bbox_roi_extractor=dict(
            roi_layer=dict(_delete_=True, type='DeviceRoIPool', output_size=7),
            out_channels=256, featmap_strides=[4, 8, 16, 32], finest_scale=56),
        bbox_head=dict(
            type='Shared2FCBBoxHead', fc_out_channels=1024, roi_feat_size=7, num_classes=80,
            loss_bbox=dict(_delete_=True, type='SmoothL1Loss', beta=1.0, loss_weight=1.0))),
    test_cfg=dict(
        # The RPN as its producers (step 3 and Table 1(c)) make their proposals: nms_pre 2000 per
        # level, NMS 0.7, min size 16; Sec. 5.2: 1000 proposals per image at test time.
        rpn=dict(nms_pre=2000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7),
                 min_bbox_size=16),
        # As Table 2(c): py-faster-rcnn TEST.NMS 0.3, test_net's thresh 0.05, max_per_image 100.
        rcnn=dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.3), max_per_img=100)))

# Sec. 5.1/5.2: shorter side 800; py-faster-rcnn's MAX_SIZE 1000 on the long side, as 1(c)/2(c).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1000, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1000, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

# Test only (the harness never calls train() for a merged row); the train settings are mmdet's
# and kept so that the resolved config stays a complete, loadable MMDetection config.
train_dataloader = dict(batch_size=2, sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(pipeline=train_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=1, val_interval=1)
param_scheduler = []
val_dataloader = None
val_cfg = None
val_evaluator = None
test_evaluator = dict(type='CocoMetric', ann_file='annotations/instances_val2017.json',
                      metric='bbox', format_only=False)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1))
log_processor = dict(by_epoch=False)

# Where this model departs from the paper and, where it is silent, from py-faster-rcnn (the rule:
# paper_configs/README.md), beside the box coder of ../_base_/mmdet_choices.py. Keys are `harness
# audit` setting names.
paper_deviations = {
    'warm-up': None,   # nothing is trained here (steps 3 and 4 declare their own)
    'RPN pre-NMS boxes, test proposals':
        "py-faster-rcnn's TEST.RPN_PRE_NMS_TOP_N 6000 is for its one feature map; mmdet's RPNHead "
        "cuts per level (NMS within each level): 2000 per level, as this model's producers",
    'RPN min proposal size':
        "mmdet's two-stage predict filters RPN boxes before rescaling them, so 16 px at the "
        'network input = 16/s original px (s = 1.56 for a 640 x 480 image); py-faster-rcnn '
        '(and the dumps of the "no" rows) filter at 16 original px',
}
