"""merge.network and merge.engine: what weights say they were trained behind, and which engine
runs them (numpy for FastNet on a CPU, without importing torch)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import dynamic_bracket
from selfhdr_cli.merge.align import AlignConfig
from selfhdr_cli.merge.bracket import bracket_from_arrays
from selfhdr_cli.radiometry.response import CameraResponse


@pytest.fixture(scope="module")
def bracket():
    frames, _, _ = dynamic_bracket(120, 136, shift=6, seed=4)
    return bracket_from_arrays(list(frames), [1.0, 4.0, 16.0])


def _weights(tmp_path, name="fastnet", config=None, info=None):
    from selfhdr_cli.nets import build_network
    from selfhdr_cli.nets.weights import save_weights

    path = tmp_path / f"{name}.safetensors"
    save_weights(path, build_network(name, config or {}), name,
                 info or {"stage": "reconstruct", "config": {"flow": "dis-fast", "color_merge": "snr"}})
    return path


@pytest.mark.parametrize("engine_device", [("numpy", "cpu"), ("torch", "cpu-tiled")])
def test_a_network_merges_behind_the_flow_it_was_trained_with(tmp_path, monkeypatch, bracket, engine_device):
    """FastNet's alignment is a fixed layer: weights trained behind dis-fast merge behind dis-fast
    unless a flow is asked for explicitly, whichever engine runs them."""
    from selfhdr_cli.merge import network
    from selfhdr_cli.merge.network import TileConfig

    engine, device = engine_device
    tiles = TileConfig(tile=64 if device == "cpu-tiled" else 0)
    weights = _weights(tmp_path)
    assert network.network_engine(weights, "cpu", tiles.tile) == engine
    used = []
    real_align = network.align_bracket
    monkeypatch.setattr(network, "align_bracket", lambda *a: used.append(a[-1].flow) or real_align(*a))
    network.merge_with_network(bracket, str(weights), CameraResponse("gamma"), None, tiles, "cpu")
    network.merge_with_network(bracket, str(weights), CameraResponse("gamma"), AlignConfig(flow="dis-medium"), tiles, "cpu")
    assert used == ["dis-fast", "dis-medium"]


def test_the_two_engines_give_the_same_merge(tmp_path, bracket):
    import torch

    from selfhdr_cli.merge.network import TileConfig, merge_with_network
    from selfhdr_cli.nets import build_network
    from selfhdr_cli.nets.weights import save_weights

    torch.manual_seed(1)
    net = build_network("fastnet", {"guide": True})
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    weights = tmp_path / "guided.safetensors"
    save_weights(weights, net, "fastnet", {"stage": "pseudo", "config": {"flow": "dis-fine", "color_merge": "snr"}})
    g = CameraResponse("gamma")
    numpy_merge = merge_with_network(bracket, str(weights), g, None, TileConfig(), "cpu")
    torch_merge = merge_with_network(bracket, str(weights), g, None, TileConfig(tile=4096), "cpu")
    assert np.abs(numpy_merge - torch_merge).max() < 1e-3 and np.abs(numpy_merge - torch_merge).mean() < 1e-6


def test_the_engine_follows_network_device_and_tiles(tmp_path, monkeypatch):
    from selfhdr_cli.merge import engine

    fast, ahdr = _weights(tmp_path), _weights(tmp_path, "ahdrnet")
    monkeypatch.setattr(engine, "cuda_device_present", lambda: False)
    assert engine.network_engine(fast, "auto") == engine.network_engine(fast, "cpu") == "numpy"
    assert engine.network_engine(fast, "cpu", tile=512) == "torch"  # an explicit tile is torch's tiling
    assert engine.network_engine(ahdr, "cpu") == "torch"
    assert engine.network_engine(fast, "cuda") == "torch"
    monkeypatch.setattr(engine, "cuda_device_present", lambda: True)
    assert engine.network_engine(fast, "auto") == "torch"


def test_merging_with_fastnet_on_a_cpu_never_imports_torch(tmp_path, bracket):
    """The point of the numpy engine: a CPU merge does not pay torch's import."""
    import imageio.v3 as iio

    weights = _weights(tmp_path, config={"guide": True}, info={"stage": "pseudo", "config": {"flow": "dis-fast",
                                                                                             "color_merge": "snr"}})
    paths = []
    for k, frame in enumerate(bracket.frames):
        paths.append(tmp_path / f"f{k}.png")
        iio.imwrite(paths[-1], (frame * 255).round().astype(np.uint8))
    script = (
        "import sys\n"
        "from selfhdr_cli.cli import app\n"
        "try:\n"
        f"    app(['merge', *{[str(p) for p in paths]!r}, '--exposures', '1,4,16', '--method', 'net', "
        f"'--device', 'cpu', '-w', {str(weights)!r}, '-o', {str(tmp_path / 'out.exr')!r}])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('torch' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "False", "merging imported torch"
    assert (tmp_path / "out.exr").is_file()


def test_records_written_before_the_renames_are_still_read():
    from selfhdr_cli.merge import network

    legacy = {"info": {"config": {"flow": "dis-fine", "global_motion": "homography", "colour_merge": "snr"}}}
    assert network.trained_color_merge(legacy) == "snr"
    assert network.trained_alignment(legacy).rigid_motion == "rigid"
