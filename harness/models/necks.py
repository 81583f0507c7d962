"""The FPN neck of Lin et al. 2017 and its Table 1/2 ablations, as ONE class with two flags.

Written in the style of detectron2's ``modeling/backbone/fpn.py`` so that every ablation is one
visible difference in one short top-down loop (Sec. 3, Fig. 3; Sec. 5.1.1):

    M5  = lateral(C5)                                   "attach a 1x1 conv on C5" (start)
    M_k = lateral(C_k) + up2x(M_{k+1}),  k = 4, 3, 2    lateral 1x1 conv + nearest upsampling
    P_k = conv3x3(M_k)                                  "to reduce the aliasing effect"
    P6  = stride-2 subsampling of P5                    footnote 1, RPN only

No non-linearities and no norm in these extra layers (Sec. 3, "we fix ... d = 256").

=====================================  ===========================================
paper row (Tables 1 and 2)             config
=====================================  ===========================================
(c) FPN                                ``PaperFPN()``
(d) bottom-up pyramid, no top-down     ``BottomUpPyramid()`` = ``PaperFPN(top_down=False)``
(e) top-down pyramid, w/o lateral      ``TopDownNoLateral()`` = ``PaperFPN(lateral=False)``
(f) only finest level (head on P2)     ``PaperFPN(levels=("p2",))``
=====================================  ===========================================

``PaperFPN()`` computes exactly what mmdet's ``FPN(in_channels=[256, 512, 1024, 2048],
out_channels=256, num_outs=5)`` computes (add_extra_convs=False, nearest upsampling, Xavier-uniform
init); tests/test_necks.py checks this with copied weights. The state-dict keys differ
(``lateral_convs.c5.weight`` here, ``lateral_convs.3.conv.weight`` there).
"""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS

ALL_LEVELS = ("p2", "p3", "p4", "p5", "p6")


@MODELS.register_module()
class PaperFPN(BaseModule):
    """Feature Pyramid Network (Lin et al. 2017, Sec. 3 / Fig. 3) with the Table 1 ablation flags.

    Args:
        in_channels: channels of C2..C5 as mmdet's ResNet returns them (strides 4, 8, 16, 32).
        out_channels: d, the channels of every pyramid level (256 in the paper).
        lateral: keep the 1x1 lateral connections on C2..C4. False = Table 1(e): only C5 gets its
            1x1 conv (to start the top-down pathway), so P2..P5 do not depend on C2..C4.
        top_down: keep the top-down pathway. False = Table 1(d): P_k = conv3x3(conv1x1(C_k)),
            the levels are independent (the bottom-up pyramid of Fig. 1(b)).
        levels: which of p2..p6 to return, a contiguous run in that order. ("p2",) = Table 1(f).
            "p6" is max_pool2d(P5, 1, stride=2) as in mmdet; it needs P5, which is then computed
            (its 3x3 conv exists) even when "p5" itself is not returned.
        init_cfg: mmdet FPN's default, Xavier uniform on every Conv2d with zero bias.

    Only the modules a configuration uses are built (e.g. ``levels=("p2",)`` has a single 3x3 conv),
    so DDP never needs ``find_unused_parameters``.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 512, 1024, 2048),
                 out_channels: int = 256,
                 lateral: bool = True,
                 top_down: bool = True,
                 levels: Sequence[str] = ALL_LEVELS,
                 init_cfg=dict(type="Xavier", layer="Conv2d", distribution="uniform")):
        super().__init__(init_cfg=init_cfg)
        levels = tuple(levels)
        if len(in_channels) != 4:
            raise ValueError(f"in_channels must give the channels of C2..C5, got {in_channels!r}")
        if not lateral and not top_down:
            raise ValueError("lateral=False with top_down=False leaves nothing to merge: "
                             "the paper has no such variant")
        start = ALL_LEVELS.index(levels[0]) if levels and levels[0] in ALL_LEVELS else -1
        if start < 0 or levels != ALL_LEVELS[start:start + len(levels)]:
            raise ValueError(f"levels must be a contiguous run of {ALL_LEVELS} in order, "
                             f"got {levels!r}")
        self.lateral, self.top_down, self.levels = lateral, top_down, levels

        # Pyramid levels k whose P_k must be computed (P6 is subsampled from P5).
        ks = [int(name[1]) for name in levels]
        self._p_levels = sorted({min(k, 5) for k in ks})
        lo, hi = self._p_levels[0], self._p_levels[-1]
        # The loop starts at M5 when there is a top-down pathway (every M_k depends on M5);
        # without one it only visits the levels it outputs.
        self._start = 5 if top_down else hi
        self._lo = lo

        # Lateral 1x1 convs, keyed "c<k>": the starting level always has one (M5 = conv1x1(C5));
        # the others only with lateral connections. Output 3x3 convs, keyed "p<k>".
        self.lateral_convs = nn.ModuleDict({
            f"c{k}": nn.Conv2d(in_channels[k - 2], out_channels, 1)
            for k in range(lo, self._start + 1) if lateral or k == self._start})
        self.output_convs = nn.ModuleDict({
            f"p{k}": nn.Conv2d(out_channels, out_channels, 3, padding=1) for k in self._p_levels})

    def forward(self, inputs: Sequence[Tensor]) -> tuple[Tensor, ...]:
        """inputs: (C2, C3, C4, C5). Returns the requested levels, finest first."""
        feats = dict(zip((2, 3, 4, 5), inputs))
        prev = self.lateral_convs[f"c{self._start}"](feats[self._start])  # M5 (Fig. 3 start)
        merged = {self._start: prev}
        for k in range(self._start - 1, self._lo - 1, -1):
            # Fig. 3: upsample the coarser map by 2 (nearest; size= as mmdet does, so odd input
            # sizes work), add the 1x1 lateral of C_k. Each flag removes one term of the sum.
            top_down = F.interpolate(prev, size=feats[k].shape[-2:], mode="nearest") \
                if self.top_down else 0
            lateral = self.lateral_convs[f"c{k}"](feats[k]) if self.lateral else 0
            prev = merged[k] = lateral + top_down

        # P_k = conv3x3(M_k), "to reduce the aliasing effect of upsampling" (Sec. 3).
        outs = {f"p{k}": self.output_convs[f"p{k}"](merged[k]) for k in self._p_levels}
        if "p6" in self.levels:
            # Top block (detectron2's LastLevelMaxPool; mmdet's FPN with add_extra_convs=False):
            # "P6 is simply a stride two subsampling of P5" (footnote 1), for RPN's 512^2 anchors.
            outs["p6"] = F.max_pool2d(outs["p5"], kernel_size=1, stride=2)
        return tuple(outs[name] for name in self.levels)


@MODELS.register_module()
class BottomUpPyramid(PaperFPN):
    """Table 1(d) / 2(d): 1x1 laterals + 3x3 convs on the bottom-up pyramid, no top-down path."""

    def __init__(self, **kwargs):
        super().__init__(top_down=False, **kwargs)


@MODELS.register_module()
class TopDownNoLateral(PaperFPN):
    """Table 1(e) / 2(e): top-down pyramid from C5 alone, without the 1x1 lateral connections."""

    def __init__(self, **kwargs):
        super().__init__(lateral=False, **kwargs)
