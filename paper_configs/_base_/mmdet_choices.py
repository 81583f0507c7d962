# Choices of mmdet that the rows keep on purpose, declared once (the rule: paper_configs/README.md).
# Each table's base row lists this file in its `_base_` and adds its own declarations; a row a
# setting does not apply to withdraws it with None. Keys are `harness audit` setting names.
paper_deviations = {
    'warm-up': "mmdet's linear warm-up over the first 500 iterations (from 0.001 x lr) is kept; "
               'the paper states none and py-faster-rcnn has none (solver lr_policy "step"). '
               "Detectron's FPN configs warm up too (500 iterations)",
    'box coder': "mmdet's DeltaXYWHBBoxCoder: widths and heights without py-faster-rcnn's +1 px "
                 '(as detectron2) and dw, dh clamped at log(1000/16) when decoding (as Detectron '
                 "and detectron2); py-faster-rcnn's bbox_transform adds 1 px and does not clamp",
}
