# Table 4, "ours": the model the paper submitted to the COCO test-dev server (Sec. 5.2.3).
# ResNet-101 FPN Fast R-CNN on the ResNet-101 RPN's proposals, without feature sharing, trained
# with "2x the number of mini-batches at each learning rate": 120k at 0.02, then 40k at 0.002.
# Sec. 5.2.3 reports 35.6 AP on minival for it; the test-dev columns come from the server.
_base_ = '../table5/r101_no_fast_rcnn.py'

train_cfg = dict(max_iters=160000, val_interval=160000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=160000, milestones=[120000], gamma=0.1),
]

# test-dev (harness): after the minival test, when the data root has
# annotations/image_info_test-dev2017.json and test2017/, the worker runs the same model once more
# on test-dev with CocoMetric(format_only=True) and keeps the result file to upload to the COCO
# server. The proposals of test-dev come from the same RPN (dumped by the harness).
test_dev = dict(ann_file='annotations/image_info_test-dev2017.json', img_prefix='test2017/')
