"""harness/models/necks.py: each FPN ablation's defining property, checked numerically on random inputs.

A test perturbs one backbone level C_j and looks at which pyramid levels P_k change.
"changed" = max abs diff > 1e-6; "unchanged" = bit-identical (torch.equal).
"""
from __future__ import annotations

import pytest
import torch
from mmdet.models.necks import FPN
from mmdet.registry import MODELS

import harness.models.necks  # noqa: F401  (registers the necks)
from harness.models.necks import BottomUpPyramid, PaperFPN, TopDownNoLateral

IN_CHANNELS = (16, 24, 32, 40)  # small for speed; the real ResNet-50 is (256, 512, 1024, 2048)
OUT = 8
SIZES = ((32, 40), (16, 20), (8, 10), (4, 5))  # C2..C5 at strides 4, 8, 16, 32
NAMES = ("p2", "p3", "p4", "p5", "p6")


def make_inputs(seed=0, in_channels=IN_CHANNELS):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, c, h, w, generator=g) for c, (h, w) in zip(in_channels, SIZES)]


def build(cls=PaperFPN, **kwargs):
    torch.manual_seed(0)
    neck = cls(in_channels=IN_CHANNELS, out_channels=OUT, **kwargs)
    neck.init_weights()
    for conv in neck.modules():  # Xavier init leaves biases at 0; make them count too
        if isinstance(conv, torch.nn.Conv2d):
            torch.nn.init.uniform_(conv.bias, -0.5, 0.5)
    return neck.eval()


def changed_levels(neck, j):
    """Names of the output levels that change when C_j (j in 2..5) is perturbed."""
    x = make_inputs()
    y = [t.clone() for t in x]
    y[j - 2] = y[j - 2] + torch.randn_like(y[j - 2])
    with torch.no_grad():
        a, b = neck(x), neck(y)
    names = neck.levels
    out = set()
    for name, u, v in zip(names, a, b):
        if torch.equal(u, v):
            continue
        assert (u - v).abs().max() > 1e-6, f"{name} changed only by rounding noise"
        out.add(name)
    return out


def n_convs(neck, k):
    return sum(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (k, k) for m in neck.modules())


# 1. Table 1(d): without the top-down pathway P_k depends on C_k only (P6 follows P5).
@pytest.mark.parametrize("j", [2, 3, 4, 5])
def test_bottom_up_levels_are_independent(j):
    neck = build(BottomUpPyramid)
    expected = {f"p{j}"} | ({"p6"} if j == 5 else set())
    assert changed_levels(neck, j) == expected


# 2. Table 1(e): without laterals nothing depends on C2..C4, everything depends on C5.
@pytest.mark.parametrize("j", [2, 3, 4])
def test_no_lateral_ignores_c2_to_c4(j):
    assert changed_levels(build(TopDownNoLateral), j) == set()


def test_no_lateral_depends_on_c5():
    assert changed_levels(build(TopDownNoLateral), 5) == set(NAMES)


# 3. Table 1(f): one level, stride 4 (C2's spatial size), d channels, and still a full FPN.
def test_finest_only_returns_p2():
    neck = PaperFPN(levels=("p2",)).eval()  # real ResNet-50 channels and d = 256
    x = [torch.randn(1, c, h, w) for c, (h, w) in zip((256, 512, 1024, 2048), SIZES)]
    with torch.no_grad():
        out = neck(x)
    assert len(out) == 1
    assert out[0].shape == (1, 256, *SIZES[0])
    small = build(levels=("p2",))
    assert all(changed_levels(small, j) == {"p2"} for j in (2, 3, 4, 5))


# 4. Table 1(c): P_k changes with every coarser C_j (j >= k) and never with a finer one.
@pytest.mark.parametrize("j", [2, 3, 4, 5])
def test_full_fpn_dependencies(j):
    expected = {f"p{k}" for k in range(2, j + 1)} | ({"p6"} if j == 5 else set())
    assert changed_levels(build(), j) == expected


# 5. PaperFPN() is mmdet's FPN: copy mmdet's weights over, get the same five levels.
def test_full_fpn_equals_mmdet_fpn():
    torch.manual_seed(1)
    ref = FPN(in_channels=list(IN_CHANNELS), out_channels=OUT, num_outs=5).eval()
    ref.init_weights()
    for conv in ref.modules():  # non-zero biases, so that they are compared too
        if isinstance(conv, torch.nn.Conv2d):
            torch.nn.init.normal_(conv.bias)
    ours = build()
    with torch.no_grad():
        for i, k in enumerate(range(2, 6)):
            for dst, src in ((ours.lateral_convs[f"c{k}"], ref.lateral_convs[i].conv),
                             (ours.output_convs[f"p{k}"], ref.fpn_convs[i].conv)):
                assert dst.weight.shape == src.weight.shape
                dst.weight.copy_(src.weight)
                dst.bias.copy_(src.bias)
        x = make_inputs(seed=3)
        a, b = ours(x), ref(x)
    assert len(a) == len(b) == 5
    for name, u, v in zip(NAMES, a, b):
        assert u.shape == v.shape, name
        torch.testing.assert_close(u, v, atol=1e-5, rtol=0, msg=name)
    # the initialisation is mmdet's too: Xavier-uniform weights within the bound, zero biases
    fresh = PaperFPN(in_channels=IN_CHANNELS, out_channels=OUT)
    fresh.init_weights()
    for conv in [*fresh.lateral_convs.values(), *fresh.output_convs.values()]:
        fan_in, fan_out = conv.weight[0].numel(), conv.weight[:, 0].numel()
        assert conv.weight.abs().max() <= (6 / (fan_in + fan_out)) ** 0.5
        assert torch.count_nonzero(conv.bias) == 0


# 6. Only the modules that are used exist; meaningless arguments are refused.
def test_module_inventory():
    assert (n_convs(build(), 1), n_convs(build(), 3)) == (4, 4)
    no_lat = build(TopDownNoLateral)
    assert (n_convs(no_lat, 1), n_convs(no_lat, 3)) == (1, 4)
    assert list(no_lat.lateral_convs) == ["c5"]
    finest = build(levels=("p2",))
    assert (n_convs(finest, 1), n_convs(finest, 3)) == (4, 1)
    assert list(build(levels=("p6",)).output_convs) == ["p5"]
    # every parameter gets a gradient, so DDP needs no find_unused_parameters
    for neck in (build(), no_lat, finest, build(BottomUpPyramid), build(levels=("p4", "p5"))):
        neck.zero_grad(set_to_none=True)
        sum(o.sum() for o in neck(make_inputs())).backward()
        assert all(p.grad is not None for p in neck.parameters())


@pytest.mark.parametrize("kwargs", [
    dict(lateral=False, top_down=False),
    dict(levels=("p2", "p4")),
    dict(levels=("p3", "p2")),
    dict(levels=("p7",)),
    dict(levels=()),
    dict(in_channels=(256, 512, 1024)),
])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        PaperFPN(**kwargs)


# 7. Configs build the necks by name through mmdet's registry.
def test_build_from_registry():
    from mmdet.utils import register_all_modules
    register_all_modules()
    common = dict(in_channels=list(IN_CHANNELS), out_channels=OUT)
    bu = MODELS.build(dict(type="BottomUpPyramid", **common))
    nl = MODELS.build(dict(type="TopDownNoLateral", **common))
    fo = MODELS.build(dict(type="PaperFPN", levels=["p2"], **common))
    assert type(bu) is BottomUpPyramid and not bu.top_down and bu.lateral
    assert type(nl) is TopDownNoLateral and nl.top_down and not nl.lateral
    assert type(fo) is PaperFPN and fo.levels == ("p2",)
    with torch.no_grad():
        assert len(bu(make_inputs())) == 5 and len(fo(make_inputs())) == 1
