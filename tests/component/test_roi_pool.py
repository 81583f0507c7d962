"""DeviceRoIPool (harness/models/roi_pool.py): on a CPU it must compute Caffe's RoI max pooling
(Fast R-CNN, the paper's RoI pooling) exactly, as torchvision's roi_pool and mmcv's RoIPool do;
on CUDA tensors it must hand over to mmcv's kernel."""
from __future__ import annotations

import math
from unittest import mock

import mmcv.ops
import pytest
import torch
from torchvision.ops import roi_pool as tv_roi_pool

from harness.models.roi_pool import DeviceRoIPool


def caffe_roi_pool(features: torch.Tensor, rois: torch.Tensor, out: tuple[int, int],
                   scale: float) -> torch.Tensor:
    """Fast R-CNN's roi_pooling_layer.cpp, written out loop by loop: RoI corners rounded on the
    feature map, at least 1x1; bin edges floor/ceil; an empty bin pools to 0."""
    ph_n, pw_n = out
    result = torch.zeros(len(rois), features.shape[1], ph_n, pw_n, dtype=features.dtype)
    height, width = features.shape[-2:]
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        # C's round(): halves away from zero (Python's round() would go to even)
        sw, sh, ew, eh = (math.floor(v * scale + 0.5) for v in (x1, y1, x2, y2))
        roi_w, roi_h = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
        bin_w, bin_h = roi_w / pw_n, roi_h / ph_n
        for ph in range(ph_n):
            hs = min(max(math.floor(ph * bin_h) + sh, 0), height)
            he = min(max(math.ceil((ph + 1) * bin_h) + sh, 0), height)
            for pw in range(pw_n):
                ws = min(max(math.floor(pw * bin_w) + sw, 0), width)
                we = min(max(math.ceil((pw + 1) * bin_w) + sw, 0), width)
                if he > hs and we > ws:
                    result[k, :, ph, pw] = features[int(b), :, hs:he, ws:we].amax(dim=(-2, -1))
    return result


def sample(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(2, 3, 25, 38, generator=g)       # stride 16 map of a 400 x 600 image
    rois = [[0, 0, 0, 599, 399], [1, 17.3, 40.8, 230.1, 99.6], [0, 100, 100, 108, 105],
            [1, 580, 380, 700, 450],                       # past the border: clipped
            [0, 250.5, 7.5, 251.4, 8.4], [1, 8, 8, 7, 7]]  # degenerate: at least one cell
    rois += [[i % 2, *(torch.rand(2, generator=g) * 300).tolist(),
              *(300 + torch.rand(2, generator=g) * 300).tolist()] for i in range(20)]
    return features, torch.tensor(rois, dtype=torch.float32)


@pytest.mark.parametrize("output_size,scale", [((7, 7), 1 / 16), ((14, 14), 1 / 16), ((2, 3), 0.25)])
def test_cpu_path_is_caffe_roi_max_pooling_and_torchvisions(output_size, scale):
    features, rois = sample()
    pool = DeviceRoIPool(output_size, spatial_scale=scale)
    got = pool(features, rois)
    assert got.shape == (len(rois), 3, *output_size)
    assert torch.equal(got, caffe_roi_pool(features, rois, output_size, scale))
    assert torch.equal(got, tv_roi_pool(features, rois, output_size, scale))
    assert got.abs().sum() > 0                                  # not a vacuous all-zero output


def test_the_output_size_and_scale_of_a_config_reach_the_kernel():
    pool = DeviceRoIPool(7, spatial_scale=0.0625)      # mmdet's configs pass an int output size
    assert pool.output_size == (7, 7) and pool.spatial_scale == 0.0625
    features, rois = sample(1)
    assert torch.equal(pool(features, rois), caffe_roi_pool(features, rois, (7, 7), 0.0625))


def test_mmcv_roi_pool_on_cpu_agrees_where_it_exists():
    """mmcv 2.1 ships RoIPool for CUDA only (why DeviceRoIPool exists); should a later mmcv run
    it on a CPU, DeviceRoIPool's CPU path must agree with it."""
    features, rois = sample(2)
    try:
        ref = mmcv.ops.RoIPool((7, 7), 1 / 16)(features, rois)
    except (RuntimeError, NotImplementedError) as exc:
        pytest.skip(f"mmcv's RoIPool has no CPU kernel here ({type(exc).__name__})")
    assert torch.allclose(DeviceRoIPool((7, 7), 1 / 16)(features, rois), ref)


def test_cuda_tensors_go_to_mmcvs_kernel_and_cpu_tensors_never_do():
    pool = DeviceRoIPool((7, 7), 1 / 16)
    features, rois = sample()
    with mock.patch.object(pool.mmcv_pool, "forward", return_value="mmcv") as mmcv_forward, \
            mock.patch("harness.models.roi_pool.tv_roi_pool") as tv:
        cuda_features = mock.Mock(is_cuda=True)
        assert pool(cuda_features, rois) == "mmcv"
        mmcv_forward.assert_called_once_with(cuda_features, rois)
        tv.assert_not_called()
        pool(features, rois)
        assert mmcv_forward.call_count == 1 and tv.call_count == 1


def test_mmdet_finds_the_layer_by_name_in_mmcv_ops():
    from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
    ext = SingleRoIExtractor(dict(type="DeviceRoIPool", output_size=7), 256, [4, 8, 16, 32])
    assert all(isinstance(layer, DeviceRoIPool) for layer in ext.roi_layers)
    assert [layer.spatial_scale for layer in ext.roi_layers] == [1 / 4, 1 / 8, 1 / 16, 1 / 32]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_mmcvs_kernel_equals_the_cpu_path():
    features, rois = sample(3)
    pool = DeviceRoIPool((7, 7), 1 / 16)
    assert torch.allclose(pool(features.cuda(), rois.cuda()).cpu(), pool(features, rois))
