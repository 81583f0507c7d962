# Table 5, ResNet-50 with shared features: the 4-step training's final model (Sec. 5.2.2; Ren et
# al. [29]). One Faster R-CNN whose RPN head (step 3) and Fast R-CNN head (step 4) sit on one
# backbone + FPN. Nothing is trained: the harness merges the two step checkpoints into this model
# (`load_from`, published.yaml: merge) and tests it once, images in, detections out, the RPN's
# 1000 proposals per image fed straight to the detector.
# The model repeats Table 1(c)'s RPN head and Table 2(c)'s RoI head on mmdet's caffe R-50 FPN
# Faster R-CNN; tests/test_four_step.py loads a merged checkpoint with strict=True, so a mismatch
# with the step configs fails there.
_base_ = '{{$MMDET_CONFIGS:}}/faster_rcnn/faster-rcnn_r50-caffe_fpn_1x_coco.py'
custom_imports = dict(imports=['harness.ops', 'harness.necks'], allow_failed_imports=False)

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
    # Sec. 5.2: 1000 proposals per image at test time, as the fixed-proposal rows.
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7))))

# Test only (the harness never calls train() for a merged row); the train settings are mmdet's
# and kept so that the resolved config stays a complete, loadable MMDetection config.
train_dataloader = dict(batch_size=2, sampler=dict(type='InfiniteSampler', shuffle=True))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=1, val_interval=1)
param_scheduler = []
val_dataloader = None
val_cfg = None
val_evaluator = None
test_evaluator = dict(type='HarnessCocoMetric', ann_file='annotations/instances_val2017.json',
                      metric='bbox', backend='faster_coco_eval')
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1))
log_processor = dict(by_epoch=False)
