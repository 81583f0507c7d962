# Table 2(c): Fast R-CNN on FPN {P2..P5}, ResNet-50, on the fixed proposals of the Table 1(c) RPN
# (Lin et al. 2017, Sec. 4.2 and 5.2.1). Inherits mmdet's caffe-style R-50 FPN Fast R-CNN.
# The harness dumps the producer RPN's proposals and sets both `proposal_file`s (absolute paths);
# run by hand, point them at your own dumps.
# Declared deviations (warm-up, box coder): ../_base_/mmdet_choices.py.
_base_ = ['{{$MMDET_CONFIGS:}}/fast_rcnn/fast-rcnn_r50-caffe_fpn_1x_coco.py',
          '../_base_/mmdet_choices.py']
custom_imports = dict(imports=['harness.models.roi_pool', 'harness.models.necks'], allow_failed_imports=False)

model = dict(
    # Sec. 3: d = 256, no non-linearity in the extra layers, nearest x2 upsampling. mmdet's FPN
    # also makes P6, which Fast R-CNN never pools from (footnote 1; featmap_strides stop at 32).
    neck=dict(out_channels=256, num_outs=5, add_extra_convs=False,
              upsample_cfg=dict(mode='nearest')),
    roi_head=dict(
        bbox_roi_extractor=dict(
            # Sec. 4.2: "we simply adopt RoI pooling to extract 7x7 features" (mmcv's RoIPool on
            # CUDA, the same algorithm from torchvision on CPU: harness/models/roi_pool.py).
            roi_layer=dict(_delete_=True, type='DeviceRoIPool', output_size=7),
            out_channels=256, featmap_strides=[4, 8, 16, 32],
            # Eq. (1): k = floor(k0 + log2(sqrt(wh)/224)), k0 = 4 -> P2 for sqrt(wh) < 112, i.e.
            # mmdet's level = floor(log2(sqrt(wh)/56)) with finest_scale 56 = 224 / 2^(4-2).
            finest_scale=56),
        bbox_head=dict(
            # Sec. 4.2: two hidden 1024-d fc layers (each with ReLU) before classifier/regressor.
            type='Shared2FCBBoxHead', fc_out_channels=1024, roi_feat_size=7, num_classes=80,
            # Fast R-CNN [11]: smooth-L1 box loss.
            loss_bbox=dict(_delete_=True, type='SmoothL1Loss', beta=1.0, loss_weight=1.0))),
    train_cfg=dict(rcnn=dict(
        # Foreground IoU >= 0.5 (py-faster-rcnn FG_THRESH); background IoU in [0.1, 0.5)
        # (BG_THRESH_LO 0.1, BG_THRESH_HI 0.5): RoIs below 0.1 are neither. mmdet's MaxIoUAssigner
        # takes the range as a tuple and marks max IoU in [lo, hi) negative; the rest stay -1
        # (ignored: the sampler never draws them).
        assigner=dict(pos_iou_thr=0.5, neg_iou_thr=(0.1, 0.5), min_pos_iou=0.5,
                      match_low_quality=False),
        # Sec. 5.2: 512 RoIs per image; Fast R-CNN [11]: 25% foreground (FG_FRACTION). The
        # ground-truth boxes join the RoIs, as py-faster-rcnn's roidb merges them in.
        sampler=dict(num=512, pos_fraction=0.25, add_gt_as_proposals=True))),
    # py-faster-rcnn TEST.NMS 0.3 (mmdet's 0.5 is the first reason its model zoo beats the paper,
    # Detectron issue 298); test_net's thresh 0.05 and max_per_image 100.
    test_cfg=dict(rcnn=dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.3),
                            max_per_img=100)))

# Sec. 5.2: 2000 RoIs (proposals) per image for training and 1000 for testing; shorter side
# 800 px. The long side is not stated: py-faster-rcnn's MAX_SIZE 1000 (TRAIN and TEST).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadProposals', num_max_proposals=2000),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='ProposalBroadcaster', transforms=[
        dict(type='Resize', scale=(1000, 800), keep_ratio=True),
        dict(type='RandomFlip', prob=0.5)]),  # py-faster-rcnn TRAIN.USE_FLIPPED
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadProposals', num_max_proposals=1000),
    dict(type='ProposalBroadcaster', transforms=[
        dict(type='Resize', scale=(1000, 800), keep_ratio=True)]),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,  # Sec. 5.2: 2 images per GPU x 8 GPUs = 16 images per mini-batch
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(proposal_file='proposals/train2017.pkl', pipeline=train_pipeline))
test_dataloader = dict(dataset=dict(proposal_file='proposals/val2017.pkl', pipeline=test_pipeline))

# Sec. 5.2: lr 0.02 for 60k mini-batches, then 0.002 for 20k; weight decay 1e-4, momentum 0.9.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=80000, val_interval=80000)
param_scheduler = [
    # Warm-up is not stated in the paper; mmdet's 500-iteration ramp is kept (declared: _base_).
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=80000, milestones=[60000], gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)

# The paper reports the final model once: no validation during training, one `runner.test()`.
val_dataloader = None
val_cfg = None
val_evaluator = None
# Sec. 5.2: COCO-style AP and AP@0.5 (PASCAL-style) with pycocotools.
test_evaluator = dict(type='CocoMetric', ann_file='annotations/instances_val2017.json',
                      metric='bbox', format_only=False)

default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000,
                                     max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
