"""The fixed-weight merge (SPEC §2.4), the Debevec baseline and the response curves."""

from __future__ import annotations

import numpy as np
import pytest

from selfhdr_cli.errors import UsageError
from selfhdr_cli.merge.align import exposure_match
from selfhdr_cli.merge.bracket import bracket_from_arrays
from selfhdr_cli.merge.colour import merge_triangle
from selfhdr_cli.merge.debevec import merge_debevec
from selfhdr_cli.radiometry.response import CameraResponse, parse_response
from selfhdr_cli.radiometry.weighting import triangle_weights


def test_triangle_weights_match_spec():
    x = np.array([0.0, 0.25, 0.5, 0.75, 1.0], np.float32)
    ws, wr, wl = triangle_weights(x)
    np.testing.assert_allclose(ws, [0, 0, 0, 0.5, 1])
    np.testing.assert_allclose(wr, [0, 0.5, 1, 0.5, 0])
    np.testing.assert_allclose(wl, [1, 0.5, 0, 0, 0])
    np.testing.assert_allclose(ws + wr + wl, 1)


def test_merge_of_consistent_frames_returns_the_radiance():
    g = CameraResponse()
    radiance = np.linspace(0.001, 0.9, 300, dtype=np.float32).reshape(10, 10, 3)
    frames = [g.from_linear(radiance * t) for t in (1, 4, 16)]
    for merged in (merge_triangle(frames, np.array([1, 4, 16.0]), 1, g),
                   merge_debevec(frames, np.array([1, 4, 16.0]), g)):
        np.testing.assert_allclose(merged, radiance, rtol=2e-5, atol=1e-7)


def test_bright_reference_takes_short_frame_dark_takes_long():
    g = CameraResponse()
    short, ref, long = (np.full((1, 1, 3), v, np.float32) for v in (0.3, 1.0, 1.0))
    assert merge_triangle([short, ref, long], np.array([1, 4, 16.0]), 1, g)[0, 0, 0] == pytest.approx(0.3 ** 2.2)
    short, ref, long = (np.full((1, 1, 3), v, np.float32) for v in (0.0, 0.0, 0.2))
    assert merge_triangle([short, ref, long], np.array([1, 4, 16.0]), 1, g)[0, 0, 0] == pytest.approx(0.2 ** 2.2 / 16)


def test_exposure_match_follows_spec_formula():
    g = CameraResponse()
    dark = np.array([[[0.2, 0.5, 0.9]]], np.float32)
    np.testing.assert_allclose(exposure_match(dark, 1, 4, g), np.clip(dark ** 2.2 * 4, 0, 1) ** (1 / 2.2), rtol=1e-6)


@pytest.mark.parametrize("text", ["gamma:2.2", "srgb", "linear", "gamma:1.8"])
def test_response_round_trip(text):
    g = parse_response(text)
    x = np.linspace(0, 1, 101, dtype=np.float32)
    np.testing.assert_allclose(g.from_linear(g.to_linear(x)), x, atol=1e-5)
    assert np.all(np.diff(g.to_linear(x)) >= 0)


def test_bad_response():
    for bad in ("gamma:0", "log", "gamma:abc"):
        with pytest.raises(UsageError):
            parse_response(bad)


def test_bracket_sorts_by_exposure():
    a, b, c = (np.full((2, 2, 3), v, np.float32) for v in (0.1, 0.2, 0.3))
    br = bracket_from_arrays([c, a, b], [16, 1, 4])
    assert [f[0, 0, 0] for f in br.frames] == pytest.approx([0.1, 0.2, 0.3])
    np.testing.assert_allclose(br.relative_times, [1, 4, 16])


def test_unknown_flow_or_interpolation_is_refused_not_replaced():
    from selfhdr_cli.merge.align import AlignConfig, warp

    with pytest.raises(UsageError, match="interpolation"):
        AlignConfig(interpolation="lanczos")
    with pytest.raises(UsageError, match="flow"):
        AlignConfig(flow="deepflow")
    with pytest.raises(UsageError, match="interpolation"):
        warp(np.zeros((16, 16, 3), np.float32), np.zeros((16, 16, 2), np.float32), "nearest")


def _static_bracket(ev, seed=0, shot=2e-4, read=1e-3):
    from conftest import procedural_radiance
    from selfhdr_cli.evaluation.synth import SensorConfig, render_bracket

    canvas = np.clip(procedural_radiance(96, 128, seed) * 0.5, 0, 1)
    sensor = SensorConfig(shot=shot, read=read)
    frames, gt, _ = render_bracket(canvas, (96, 128), [], list(ev), len(ev) // 2, sensor,
                                   np.random.default_rng(seed))
    return frames, np.power(2.0, np.asarray(ev) - ev[0]), gt


def _psnr_mu(x, gt):
    from selfhdr_cli.radiometry.mulaw import mu_law

    return 10 * np.log10(1 / np.mean((mu_law(x) - mu_law(gt)) ** 2))


def test_snr_merge_of_a_noisy_static_bracket_beats_the_fixed_weights():
    """With the noise model matching the camera (here the default, the synthetic camera's)."""
    from selfhdr_cli.merge.snr import merge_snr

    frames, t, gt = _static_bracket([0.0, 2.0, 4.0])
    g = CameraResponse()
    snr, triangle = merge_snr(frames, t, 1, g), merge_triangle(frames, t, 1, g)
    debevec = merge_debevec(frames, t, g)
    assert _psnr_mu(snr, gt) > max(_psnr_mu(triangle, gt), _psnr_mu(debevec, gt)) + 0.5


def test_snr_merge_uses_every_frame_of_a_five_frame_bracket():
    """The triangle merge sees 3 of 5 frames; the SNR merge measurably gains from the other two."""
    from selfhdr_cli.merge.snr import merge_snr

    frames, t, gt = _static_bracket([0.0, 1.0, 2.0, 3.0, 4.0], seed=1)
    g = CameraResponse()
    five = merge_snr(frames, t, 2, g)
    three = merge_snr([frames[0], frames[2], frames[4]], t[[0, 2, 4]], 1, g)
    assert _psnr_mu(five, gt) > _psnr_mu(three, gt) + 0.5


def test_snr_merge_rejects_what_disagrees_with_the_reference():
    """A long frame with an object the flow did not align: rejection keeps the reference there."""
    from selfhdr_cli.merge.snr import SNRMergeConfig, merge_snr

    frames, t, gt = _static_bracket([0.0, 2.0, 4.0], seed=2)
    ghosted = [f.copy() for f in frames]
    ghosted[2][30:60, 40:80] = 0.05  # a dark object only the long frame saw
    g = CameraResponse()
    region = (slice(30, 60), slice(40, 80))
    with_rejection = merge_snr(ghosted, t, 1, g)
    without = merge_snr(ghosted, t, 1, g, SNRMergeConfig(reject_sigma=0))
    assert _psnr_mu(with_rejection[region], gt[region]) > _psnr_mu(without[region], gt[region]) + 10
    assert _psnr_mu(with_rejection, gt) > _psnr_mu(merge_triangle(ghosted, t, 1, g), gt)
    from selfhdr_cli.merge.snr import agreement

    agree = agreement(ghosted, t, 1, g)
    assert agree[region].mean() < 0.2 and agree[70:, 90:].mean() > 0.95  # motion seen there, and only there


@pytest.mark.parametrize("shot, read", [(2e-4, 1e-3), (1e-3, 3e-3), (5e-5, 5e-4)])
def test_noise_estimated_from_the_bracket_matches_the_camera(shot, read):
    """The fit recovers the synthetic camera's own noise, and with it the SNR merge of a camera noisier
    than the default guess still beats the fixed triangle merge."""
    from selfhdr_cli.merge.snr import SNRMergeConfig, estimate_noise, merge_snr

    frames, t, gt = _static_bracket([0.0, 2.0, 4.0], shot=shot, read=read)
    g = CameraResponse()
    noise = estimate_noise(frames, t, g)
    assert noise.shot == pytest.approx(shot, rel=0.2) and noise.read == pytest.approx(read, rel=0.3)
    merged = merge_snr(frames, t, 1, g, SNRMergeConfig(noise=noise))
    assert _psnr_mu(merged, gt) > _psnr_mu(merge_triangle(frames, t, 1, g), gt) + 0.3
