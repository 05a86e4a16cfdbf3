"""Networks: interface, sizes, [0, 1] output, safe weights."""

from __future__ import annotations

import pytest
import torch

from selfhdr_cli.errors import InputFileError, UsageError
from selfhdr_cli.nets import NETWORKS, build_network, count_parameters
from selfhdr_cli.nets.weights import load_weights, read_weights_metadata, save_weights


@pytest.mark.parametrize("name", list(NETWORKS))
def test_interface(name):
    net = build_network(name).eval()
    x = torch.rand(2, 3, 6, 32, 48)
    with torch.no_grad():
        y = net(x, x)
    assert y.shape == (2, 3, 32, 48)
    assert float(y.min()) >= 0 and float(y.max()) <= 1


def test_sizes():
    assert 1.2e6 < count_parameters(build_network("ahdrnet")) < 1.5e6  # SPEC §5: ~1.4 M
    assert count_parameters(build_network("fastnet")) < 0.4e6


def test_untrained_fastnet_is_the_colour_component():
    import numpy as np

    from selfhdr_cli.merge.color import merge_triangle
    from selfhdr_cli.radiometry.response import CameraResponse

    g = CameraResponse("gamma")
    rng = np.random.default_rng(0)
    radiance = rng.random((32, 48, 3), dtype=np.float32) ** 3
    ldr = [g.from_linear(np.clip(radiance * t, 0, 1)) for t in (1, 4, 16)]
    times = np.array([1.0, 4.0, 16.0], np.float32)
    y_color = merge_triangle(ldr, times, 1, g)
    x = torch.from_numpy(np.stack(ldr)).movedim(-1, 1)[None]
    h = g.to_linear_tensor(x) / torch.from_numpy(times).view(1, 3, 1, 1, 1)
    frames = torch.cat([h, x], dim=2)
    with torch.no_grad():
        y = build_network("fastnet").eval()(frames, frames)[0].movedim(0, -1).numpy()
    from selfhdr_cli.radiometry.mulaw import mu_law

    assert np.abs(mu_law(y) - mu_law(y_color)).max() < 0.01  # equal up to the 1e-4 softmax floor


def test_untrained_guided_fastnet_keeps_y_color_and_touches_only_the_ungated():
    """The guided FastNet (the robust recipe): exactly Y_color where the gate is 1, close to it elsewhere before
    training, and it refuses to run without its guide."""
    import numpy as np

    from selfhdr_cli.merge.snr import merge_snr
    from selfhdr_cli.radiometry.mulaw import mu_law
    from selfhdr_cli.radiometry.response import CameraResponse

    g = CameraResponse("gamma")
    radiance = np.random.default_rng(0).random((32, 48, 3), dtype=np.float32) ** 3
    ldr = [g.from_linear(np.clip(radiance * t, 0, 1)) for t in (1, 4, 16)]
    times = np.array([1.0, 4.0, 16.0], np.float32)
    y_color = merge_snr(ldr, times, 1, g)
    gate = np.zeros((32, 48), np.float32)
    gate[:, :24] = 1
    x = torch.from_numpy(np.stack(ldr)).movedim(-1, 1)[None]
    frames = torch.cat([g.to_linear_tensor(x) / torch.from_numpy(times).view(1, 3, 1, 1, 1), x], dim=2)
    guide = torch.from_numpy(np.concatenate([y_color, gate[..., None]], -1)).movedim(-1, 0)[None]
    net = build_network("fastnet", {"guide": True}).eval()
    with torch.no_grad():
        y = net(frames, frames, guide)[0].movedim(0, -1).numpy()
    np.testing.assert_allclose(y[:, :24], np.clip(y_color[:, :24], 0, 1), rtol=0, atol=1e-6)
    assert np.abs(mu_law(y) - mu_law(y_color)).max() < 0.03  # the frames' 2 % prior shares agree here
    with pytest.raises(ValueError, match="guide"):
        net(frames, frames)


def test_weights_round_trip_and_errors(tmp_path):
    net = build_network("fastnet", {"width": 16, "context": 4, "refine": 8})
    path = tmp_path / "w.safetensors"
    save_weights(path, net, "fastnet", {"note": "test"})
    loaded, meta = load_weights(path)
    assert meta["config"] == {"width": 16, "context": 4, "refine": 8} and meta["info"]["note"] == "test"
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(InputFileError):
        read_weights_metadata(tmp_path / "junk.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(InputFileError, match="no selfhdr metadata"):
        load_weights(tmp_path / "foreign.safetensors")
    # right metadata, wrong tensors
    bad = tmp_path / "mismatch.safetensors"
    save_file({"x": torch.zeros(2)}, str(bad), metadata={"format": "selfhdr-weights-1", "network": "fastnet",
                                                        "config": "{}", "info": "{}"})
    with pytest.raises(InputFileError, match="do not match"):
        load_weights(bad)
    with pytest.raises(UsageError):
        build_network("nope")


def test_fastnet_refuses_to_run_without_its_alignment():
    """Alignment is a fixed layer of FastNet: unaligned input is an error, never a silent fallback."""
    import pytest

    net = build_network("fastnet")
    frames = torch.rand(1, 3, 6, 32, 32)
    with pytest.raises(ValueError, match="aligned"):
        net(frames)
    assert net(frames, frames).shape == (1, 3, 32, 32)
