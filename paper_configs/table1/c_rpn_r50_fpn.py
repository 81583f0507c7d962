# Table 1(c): RPN on FPN {P2..P6}, ResNet-50 (Lin et al. 2017, Sec. 4.1 and 5.1).
# Inherits mmdet's caffe-style R-50 FPN RPN; states what the paper fixes and, where the paper is
# silent, py-faster-rcnn's value (paper_configs/README.md). The harness sets MMDET_CONFIGS to the
# installed mmdet's .mim/configs (mmdet's `mmdet::` scope needs pkg_resources, which may be absent).
_base_ = ['{{$MMDET_CONFIGS:}}/rpn/rpn_r50-caffe_fpn_1x_coco.py', '../_base_/mmdet_choices.py']

model = dict(
    # Sec. 5: the MSRA caffe ResNet-50 (caffe style, BGR mean, std 1) comes from the base config.
    neck=dict(
        # Sec. 3: d = 256, no non-linearity in the extra layers, nearest x2 upsampling.
        # Footnote 1: P6 is a stride-2 subsampling of P5 (mmdet: max_pool k=1, s=2).
        out_channels=256, num_outs=5, add_extra_convs=False,
        upsample_cfg=dict(mode='nearest')),
    rpn_head=dict(
        # Sec. 4.1: one head (3x3 conv + sibling 1x1s) shared by all levels; anchor areas
        # {32^2..512^2} on {P2..P6} (scale 8 x strides 4..64) x ratios {1:2, 1:1, 2:1}.
        anchor_generator=dict(scales=[8], ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64]),
        # Sec. 5.1 "as in [29]": py-faster-rcnn's RPN smooth-L1 (sigma 3 -> beta 1/9).
        loss_bbox=dict(_delete_=True, type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=1.0)),
    train_cfg=dict(rpn=dict(
        # Sec. 4.1: positive if IoU > 0.7 or the highest IoU for a ground-truth box (no floor),
        # negative if IoU < 0.3 for all ground-truth boxes.
        assigner=dict(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.0),
        # Sec. 5.1: 256 anchors per image (1:1 as in [29]); anchors outside the image included.
        sampler=dict(num=256, pos_fraction=0.5),
        allowed_border=-1)),
    # The test_cfg makes both proposal dumps (harness/orchestrate/proposals.py): train (2000 per image) and
    # val (1000). Sec. 5.2: 1000 proposals per image at test time. py-faster-rcnn:
    # RPN_NMS_THRESH 0.7; RPN_MIN_SIZE 16 "at orig image scale" (its proposal layer filters at
    # 16 x im_scale input px). mmdet's RPN filters min_bbox_size after rescaling to the original
    # image when it predicts with rescale=True, as the dumps do: the same 16 original px.
    # nms_pre is per FPN level in mmdet (2000, mmdet's and Detectron's FPN value): declared below.
    test_cfg=dict(rpn=dict(nms_pre=2000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7),
                           min_bbox_size=16)))

# Sec. 5.1: shorter side 800 px. The long side is not stated: py-faster-rcnn's MAX_SIZE 1000
# (TRAIN and TEST), which also makes Table 1's #anchors exact (harness/config/anchors.py).
# Sec. 5: train on trainval35k (~ COCO 2017 train), evaluate on minival (~ COCO 2017 val).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1000, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),  # py-faster-rcnn TRAIN.USE_FLIPPED
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1000, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,  # Sec. 5.1: 2 images per GPU x 8 GPUs = 16 images per mini-batch
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# Sec. 5.1: lr 0.02 for 30k mini-batches, then 0.002 for 10k; weight decay 1e-4, momentum 0.9.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=40000, val_interval=40000)
param_scheduler = [
    # Warm-up is not stated in the paper; mmdet's 500-iteration ramp is kept (declared: _base_).
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=40000, milestones=[30000], gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)

# Where this row departs from the paper and, where it is silent, from py-faster-rcnn (the rule:
# paper_configs/README.md), beside those of ../_base_/mmdet_choices.py (warm-up, box coder). Keys
# are `harness audit` setting names; rows inheriting this file inherit these and add their own.
paper_deviations = {
    'RPN pre-NMS boxes, train proposals':
        "py-faster-rcnn's alt-opt rpn_generate keeps every box before NMS for the proposals Fast "
        'R-CNN trains on (TEST.RPN_PRE_NMS_TOP_N = -1); the harness dumps train and val proposals '
        "with the row's one test_cfg (harness/proposals.py), so train proposals get its nms_pre",
    'RPN pre-NMS boxes, test proposals':
        "py-faster-rcnn's TEST.RPN_PRE_NMS_TOP_N 6000 is for its one feature map; mmdet's RPNHead "
        'cuts per level (NMS within each level): 2000 per level (mmdet\'s and Detectron\'s FPN '
        'value), up to ~8.6k boxes over P2-P6 at 800 x 1000',
}

# The paper reports the final model once: no validation during training, one `runner.test()`.
val_dataloader = None
val_cfg = None
val_evaluator = None
# Sec. 5.1: COCO-style AR with pycocotools (class-agnostic); not mmdet's 'proposal_fast',
# which crashes on numpy 2 (ragged np.array in its recall code) and is not the COCO AR.
test_evaluator = dict(
    type='CocoMetric', ann_file='annotations/instances_val2017.json', metric='proposal',
    proposal_nums=(100, 300, 1000), format_only=False)

default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000,
                                     max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
