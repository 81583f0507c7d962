# Table 6, dual MLP [5x5, 7x7]: FPN segmentation proposals (Lin et al. 2017, Sec. 6, Appendix A).
# The base row of Table 6; (a), (b), (d), (e) inherit it and change one thing. Inherits mmdet's
# caffe-style R-50 FPN RPN config for data, schedule and runtime only (as Table 1(c); the harness
# sets MMDET_CONFIGS) and replaces the whole model: mmdet has no mask-proposal head,
# `harness/models/segment/` is it.
_base_ = ['{{$MMDET_CONFIGS:}}/rpn/rpn_r50-caffe_fpn_1x_coco.py', '../_base_/mmdet_choices.py']

custom_imports = dict(imports=['harness.models.segment'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='FPNSegmentProposer',
    # Sec. 5: the MSRA caffe ResNet-50 (caffe style, BGR mean, std 1), frozen BN and stage 1.
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[103.530, 116.280, 123.675], std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False, pad_size_divisor=32),
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='caffe',
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://detectron2/resnet50_caffe')),
    # Appendix A: "We construct the feature pyramid with P2-6 using the same architecture as
    # described in Sec. 5.1. We set d = 128." (P6 = stride-2 subsampling of P5, footnote 1.)
    neck=dict(
        type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=128, num_outs=5,
        add_extra_convs=False, upsample_cfg=dict(mode='nearest')),
    head=dict(
        type='FPNMaskProposalHead', in_channels=128,
        # Sec. 6 / Appendix A: a 5x5 MLP (5x5 conv to 512 + ReLU, sibling 1x1 convs to the mask
        # and the score) for the octave scales {32..512} on {P2..P6}, and a 7x7 MLP for the half
        # octaves (sqrt(2) x); scale = max(w, h), nearest canonical scale in log space; 25 %
        # padding (windows 40..640 px, sqrt(2) larger for 7x7); positives within +-1 cell.
        mlps=('5x5', '7x7'), hidden=512,
        mask_size=14,            # Appendix A: 14x14 masks (Table 6(d): 28x28)
        mask_loss_weight=10.0),  # Appendix A: "mask loss is given 10x higher weight"
    # Appendix A: 128 examples per image (2048 per 16-image mini-batch), positive:negative 1:3.
    train_cfg=dict(samples_per_image=128, pos_fraction=0.25),
    # Appendix A: masks at the 1000 highest-scoring locations over all levels; no NMS.
    test_cfg=dict(max_per_img=1000))

# Appendix A: "The image scale is set to 800 pixels during training and testing (we do not use
# scale jitter)": shorter side 800. The long side is not stated: py-faster-rcnn's MAX_SIZE 1000,
# as Tables 1-5.
# Horizontal flip (p = 0.5, mmdet's and Detectron's default) is kept: the paper states no
# augmentation for this model; flip is not scale jitter.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(1000, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1000, 800), keep_ratio=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,  # Appendix A: 2 images per GPU x 8 GPUs = 16 images per mini-batch
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
# Table 6: "All models are trained on the train set", COCO 2014 train (~80k images). The harness
# trains on it when the data root has it (harness/config/table6_split.py, at config resolution, which
# then withdraws the 'training split' deviation below); otherwise on train2017 as Tables 1-5.
paper_train_split = dict(ann_file='annotations/instances_train2014.json', img='train2014/')
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# Appendix A: lr 0.03 for 80k mini-batches, divided by 10 after 60k; synchronized SGD
# (momentum 0.9 and weight decay 1e-4 as Sec. 5.1: not restated in the appendix).
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.03, momentum=0.9, weight_decay=0.0001))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=80000, val_interval=80000)
param_scheduler = [
    # Warm-up is not stated in the paper; mmdet's 500-iteration ramp is kept (declared: _base_).
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=80000, milestones=[60000], gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)

# Where this row departs from the paper and, where it is silent, from py-faster-rcnn (the rule:
# paper_configs/README.md), beside the warm-up of ../_base_/mmdet_choices.py. Keys are `harness
# audit` setting names; (a), (b), (d), (e) inherit them.
paper_deviations = {
    'box coder': None,   # no box regression in this model
    'training split': 'COCO 2014 train (the paper\'s "train set") is not in the data root '
                      '(annotations/instances_train2014.json + train2014/): trained on train2017, '
                      'which holds all of train2014 plus 35k val2014 images (118k, not ~80k)',
}

# The final model is evaluated once: no validation during training, one `runner.test()`.
val_dataloader = None
val_cfg = None
val_evaluator = None
# Sec. 6: segment AR for 1000 proposals, and on small / medium / large objects, class-agnostic
# (pycocotools COCOeval 'segm' with useCats = 0). The paper uses the first 5k val2014 images
# (~ COCO 2017 val).
test_evaluator = dict(
    type='SegmentProposalMetric', ann_file='annotations/instances_val2017.json',
    proposal_nums=(10, 100, 1000))

default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000,
                                     max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
