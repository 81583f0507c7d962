# Table 1(c): RPN on FPN {P2..P6}, ResNet-50 (Lin et al. 2017, Sec. 4.1 and 5.1).
# Inherits mmdet's caffe-style R-50 FPN RPN; states only what the paper fixes. The harness sets
# MMDET_CONFIGS to the installed mmdet's .mim/configs (notes §2: no `mmdet::` scope).
_base_ = '{{$MMDET_CONFIGS:}}/rpn/rpn_r50-caffe_fpn_1x_coco.py'

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
    # Sec. 5.2: 1000 proposals per image at test time.
    test_cfg=dict(rpn=dict(max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7))))

# Sec. 5.1: shorter side 800 px (mmdet's 1333 cap on the long side is kept).
# Sec. 5: train on trainval35k (~ COCO 2017 train), evaluate on minival (~ COCO 2017 val).
train_dataloader = dict(
    batch_size=2,  # Sec. 5.1: 2 images per GPU x 8 GPUs = 16 images per mini-batch
    sampler=dict(type='InfiniteSampler', shuffle=True))

# Sec. 5.1: lr 0.02 for 30k mini-batches, then 0.002 for 10k; weight decay 1e-4, momentum 0.9.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=40000, val_interval=40000)
param_scheduler = [
    # Warm-up is not stated in the paper; mmdet's (and Detectron's) 500-iteration ramp is kept.
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=40000, milestones=[30000], gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)

# The paper reports the final model once: no validation during training, one `runner.test()`.
val_dataloader = None
val_cfg = None
val_evaluator = None
# Sec. 5.1: COCO-style AR with pycocotools (class-agnostic); notes §2: not 'proposal_fast'.
test_evaluator = dict(
    type='HarnessCocoMetric', ann_file='annotations/instances_val2017.json', metric='proposal',
    proposal_nums=(100, 300, 1000), backend='faster_coco_eval')

default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000,
                                     max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
