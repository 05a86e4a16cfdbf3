"""merge.fastnet_numpy: FastNet's forward pass without torch, held to the torch network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfhdr_cli.errors import InputFileError
from selfhdr_cli.merge.fastnet_numpy import conv3x3, load_fastnet_weights, predict_fastnet, upsample
from selfhdr_cli.merge.infer import TileConfig, predict
from selfhdr_cli.nets import build_network
from selfhdr_cli.nets.weights import save_weights
from conftest import gamma_response


def _random_net(guide: bool, seed: int = 0, flow: bool = False) -> torch.nn.Module:
    """A FastNet whose every layer does something (trained nets start with zeroed heads)."""
    torch.manual_seed(seed)
    net = build_network("fastnet", {**({"guide": True} if guide else {}), **({"flow": True} if flow else {})})
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.15)
        if flow:  # a few pixels, not thousands: the bilinear sampling inside the image is what is tested
            first = 3 * net.candidates + net.context
            net.head.weight[first:] *= 1e-3
            net.head.bias[first:] *= 1e-3
    return net.eval()


def _bracket(height: int, width: int, seed: int = 0, moving: tuple[slice, slice] | None = None):
    rng = np.random.default_rng(seed)
    base = rng.random((height, width, 3), dtype=np.float32)
    times = np.float32([1, 4, 16])
    aligned = [np.clip(base * t / 4 + 0.03 * rng.standard_normal(base.shape).astype(np.float32), 0, 1) for t in times]
    y = np.clip(base / 4, 0, 1).astype(np.float32)
    gate = np.ones((height, width, 1), np.float32)
    if moving is not None:
        gate[moving] = rng.random(gate[moving].shape, dtype=np.float32) * 0.9
    return aligned, times, np.concatenate([y, gate], axis=-1)


def _assert_same(ours, theirs):
    """Equal to float rounding (random weights amplify it at a few pixels)."""
    difference = np.abs(ours - theirs)
    assert difference.max() < 1e-3 and np.mean(difference) < 1e-6, (difference.max(), difference.mean())


def _torch_answer(net, aligned, times, guide):
    return predict(net, aligned, aligned, times, gamma_response(), TileConfig(tile=4096), torch.device("cpu"),
                   guide=guide if net.needs_guide else None)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv3x3_is_pytorchs(stride):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((21, 34, 5)).astype(np.float32)
    w = rng.standard_normal((7, 5, 3, 3)).astype(np.float32)
    b = rng.standard_normal(7).astype(np.float32)
    ours = conv3x3(x, w, b, stride, leaky=False)
    theirs = torch.nn.functional.conv2d(torch.from_numpy(x).permute(2, 0, 1)[None], torch.from_numpy(w),
                                        torch.from_numpy(b), stride=stride, padding=1)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_upsample_is_pytorchs_bilinear_and_windows_agree():
    x = np.random.default_rng(2).standard_normal((5, 7, 3)).astype(np.float32)
    theirs = torch.nn.functional.interpolate(torch.from_numpy(x).permute(2, 0, 1)[None], size=(20, 28),
                                             mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(upsample(x, (20, 28)), theirs, atol=1e-5)
    np.testing.assert_allclose(upsample(x, (20, 28), (3, 11), (20, 27)), theirs[3:11, 20:27], atol=1e-5)


@pytest.mark.parametrize("guide, flow", [(True, False), (False, False), (True, True)],
                         ids=["guided", "unguided", "guided-flow"])
@pytest.mark.parametrize("size", [(128, 160), (150, 203)], ids=["stride-multiple", "padded"])
def test_the_numpy_forward_is_the_torch_network(tmp_path, guide, flow, size):
    net = _random_net(guide, flow=flow)
    save_weights(tmp_path / "w.safetensors", net, "fastnet", {})
    weights, meta = load_fastnet_weights(tmp_path / "w.safetensors")
    assert meta["network"] == "fastnet" and weights.guide == guide and weights.flow == flow
    aligned, times, g = _bracket(*size, moving=(slice(None), slice(None)))  # the gate below 1 everywhere
    ours = predict_fastnet(weights, aligned, times, gamma_response(), g if guide else None)
    theirs = _torch_answer(net, aligned, times, g)
    assert np.abs(theirs - g[..., :3].clip(0, 1)).max() > 0.05, "the network does nothing: the test would be empty"
    _assert_same(ours, theirs)


def test_a_guided_net_is_computed_only_where_the_gate_is_below_one(tmp_path, monkeypatch):
    from selfhdr_cli.merge import fastnet_numpy

    net = _random_net(True, seed=3)
    save_weights(tmp_path / "w.safetensors", net, "fastnet", {})
    weights, _ = load_fastnet_weights(tmp_path / "w.safetensors")
    aligned, times, g = _bracket(400, 450, seed=4, moving=(slice(260, 300), slice(330, 370)))  # inside one block
    fused_pixels = []
    real_fuse = fastnet_numpy._fuse
    monkeypatch.setattr(fastnet_numpy, "_fuse", lambda w, f, h: fused_pixels.append(f.ldr[0].size // 3) or real_fuse(w, f, h))
    ours = predict_fastnet(weights, aligned, times, gamma_response(), g)
    theirs = _torch_answer(net, aligned, times, g)
    _assert_same(ours, theirs)
    assert sum(fused_pixels) < 0.1 * 400 * 450  # the blocks around the moving patch, not the image
    still = g.copy()
    still[..., 3] = 1.0
    fused_pixels.clear()
    np.testing.assert_array_equal(predict_fastnet(weights, aligned, times, gamma_response(), still),
                                  still[..., :3].clip(0, 1))
    assert fused_pixels == []


def test_weights_that_are_not_a_fastnet_are_refused_in_one_line(tmp_path):
    net = build_network("ahdrnet")
    save_weights(tmp_path / "a.safetensors", net, "ahdrnet", {})
    with pytest.raises(InputFileError, match="ahdrnet"):
        load_fastnet_weights(tmp_path / "a.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(InputFileError, match="not a usable weights file"):
        load_fastnet_weights(tmp_path / "junk.safetensors")
    bad = _random_net(True)
    with torch.no_grad():
        bad.head.bias[0] = float("nan")
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in bad.state_dict().items()}, str(tmp_path / "nan.safetensors"),
              metadata={"format": "selfhdr-weights-1", "network": "fastnet", "config": '{"guide": true}', "info": "{}"})
    with pytest.raises(InputFileError, match="NaN"):
        load_fastnet_weights(tmp_path / "nan.safetensors")
