"""Tiled inference: equal to untiled within 1e-3 in μ-law, any size, bounded tiles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import dynamic_bracket
from selfhdr_cli.merge.infer import TileConfig, predict
from selfhdr_cli.nets import build_network
from selfhdr_cli.radiometry.mulaw import mu_law
from selfhdr_cli.radiometry.response import CameraResponse


@pytest.fixture(scope="module")
def bracket():
    frames, _, _ = dynamic_bracket(200, 264, shift=8, seed=4)  # not a multiple of any stride
    return np.stack(frames), np.asarray([1, 4, 16], np.float32)


def _trained_like(name):
    torch.manual_seed(0)
    net = build_network(name).eval()
    with torch.no_grad():  # non-trivial weights everywhere, including the zero-initialised refinement
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net


@pytest.mark.parametrize("name", ["fastnet", "ahdrnet"])
def test_tiled_equals_untiled(bracket, name):
    ldr, times = bracket
    net = _trained_like(name)
    g = CameraResponse("gamma")
    whole = predict(net, ldr, ldr, times, g, TileConfig(tile=4096))
    tiled = predict(net, ldr, ldr, times, g, TileConfig(tile=64 if name == "fastnet" else 96))
    assert whole.shape == (200, 264, 3)
    assert np.abs(mu_law(whole) - mu_law(tiled)).max() < 1e-3


@pytest.mark.parametrize("h, w, ph, pw", [(10, 13, 6, 3), (5, 5, 0, 4), (20, 7, 15, 0), (3, 9, 5, 2)])
def test_inputs_padded_in_place_as_reflect_pad(h, w, ph, pw):
    import torch.nn.functional as F

    from selfhdr_cli.merge.infer import _reflect_fill

    x = torch.rand(1, 3, 6, h, w)
    mode = "reflect" if ph < h else "replicate"
    expected = F.pad(x.reshape(1, 18, h, w), (0, pw, 0, 0), mode="reflect" if pw < w else "replicate")
    expected = F.pad(expected, (0, 0, 0, ph), mode=mode).view(1, 3, 6, h + ph, w + pw)
    padded = torch.empty(1, 3, 6, h + ph, w + pw)
    padded[..., :h, :w] = x
    torch.testing.assert_close(_reflect_fill(padded, h, w), expected, rtol=0, atol=0)


def test_progress_counts_tiles(bracket):
    ldr, times = bracket
    calls = []
    predict(build_network("fastnet").eval(), ldr, ldr, times, CameraResponse("gamma"), TileConfig(tile=128),
            progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (6, 6)  # 200×264 in 128 px tiles: rows start 0, 128; columns 0, 128, 256
