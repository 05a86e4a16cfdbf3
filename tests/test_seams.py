"""The seamless SNR merge (merge.snr.Seams): continuous weights, joint clipping, feathered rejection."""

from __future__ import annotations

import numpy as np
import pytest

from selfhdr_cli.errors import UsageError
from selfhdr_cli.merge.snr import NoiseModel, Seams, SNRMergeConfig, merge_snr, merge_snr_and_agreement, tone_weight
from selfhdr_cli.radiometry.response import CameraResponse

G = CameraResponse("gamma")
T = np.array([1.0, 4.0])


def mismatched_pair(radiance: np.ndarray, camera_gamma: float = 2.6) -> list[np.ndarray]:
    """Two frames (t = 1, 4) rendered through a curve that is not the merge's gamma 2.2: what a
    camera JPEG merged with the default response looks like."""
    return [np.clip(np.clip(radiance * t, 0, 1) ** (1 / camera_gamma), 0, 1).astype(np.float32) for t in T]


def test_weights_are_continuous_in_the_pixel_values():
    x = np.linspace(0, 1, 2001, dtype=np.float32)[None, :, None].repeat(3, axis=2)
    smooth = tone_weight(x, SNRMergeConfig(black=2 / 255))[0, :, 0]
    hard = tone_weight(x, SNRMergeConfig(black=2 / 255, seams=Seams.hard()))[0, :, 0]
    step = 1 / 2000
    # no jump anywhere: a smoothstep's steepest slope is 1.5 / its width (3/255 at the dark end)
    assert np.abs(np.diff(smooth)).max() <= 1.5 * step / Seams().dark_taper * 1.01
    assert np.abs(np.diff(hard)).max() == 1.0    # the old weights jump at the clip and at black
    assert smooth[x[0, :, 0] >= 0.98].max() == 0 and smooth[x[0, :, 0] <= 2 / 255].max() == 0


def test_no_contour_where_the_reference_starts_to_clip():
    # a smooth ramp of radiance through the reference's clip level, frames from a mismatched curve:
    # the hard merge steps where the long frame's weight drops to 0, the seamless one does not
    radiance = np.linspace(0.15, 0.3, 400, dtype=np.float32)[None, :, None].repeat(3, axis=2).repeat(4, axis=0)
    frames = mismatched_pair(radiance)
    config = SNRMergeConfig(noise=NoiseModel(bits=8), reject_sigma=0)
    steps = {}
    for name, seams in (("seamless", Seams()), ("hard", Seams.hard())):
        merged = merge_snr(frames, T, 0, G, SNRMergeConfig(noise=config.noise, reject_sigma=0, seams=seams))
        log = np.log(merged[1, :, 1])
        steps[name] = np.abs(np.diff(log, 2)).max()  # a contour is a kink: a large second difference
    assert steps["hard"] > 5 * steps["seamless"]


def test_a_frame_clipped_in_one_channel_gives_no_weight_to_the_others():
    # reference (long) clips red only; the short frame measures all three: with joint clipping every
    # channel comes from the short frame, so its hue is one frame's, not a mix of two
    radiance = np.array([[[0.3, 0.1, 0.05]]], np.float32).repeat(8, axis=0).repeat(8, axis=1)
    frames = mismatched_pair(radiance)
    assert frames[1][0, 0, 0] >= 0.98 and frames[1][0, 0, 1] < 0.9
    short_alone = G.to_linear(frames[0])
    joint = merge_snr(frames, T, 1, G, SNRMergeConfig(reject_sigma=0))
    np.testing.assert_allclose(joint, short_alone, rtol=0.01)
    per_channel = merge_snr(frames, T, 1, G, SNRMergeConfig(reject_sigma=0, seams=Seams(joint_clip=False)))
    assert not np.allclose(per_channel[..., 1:], short_alone[..., 1:], rtol=0.01)


def test_joint_clipping_keeps_a_channel_no_other_frame_measures():
    # the short frame is black in blue, the reference clipped in red: blue is measured by the reference
    # alone, and stays its value rather than falling back to the short frame's black
    short = np.array([[[0.5, 0.2, 0.0]]], np.float32).repeat(8, axis=0).repeat(8, axis=1)
    ref = np.array([[[1.0, 0.6, 0.3]]], np.float32).repeat(8, axis=0).repeat(8, axis=1)
    merged = merge_snr([short, ref], T, 1, G, SNRMergeConfig(black=2 / 255, reject_sigma=0))
    assert merged[0, 0, 2] == pytest.approx(0.3 ** 2.2 / 4, rel=1e-3)


def test_rejection_is_feathered_and_covers_the_motion():
    rng = np.random.default_rng(0)
    radiance = np.full((40, 40, 3), 0.05, np.float32) + rng.normal(0, 1e-4, (40, 40, 3)).astype(np.float32)
    frames = [G.from_linear(np.clip(radiance * t, 0, 1)) for t in T]
    frames[0] = frames[0].copy()
    frames[0][10:30, 10:30] = G.from_linear(np.full((20, 20, 3), 0.2, np.float32))  # something moved in the short frame
    config = SNRMergeConfig(noise=NoiseModel(shot=1e-4, read=1e-3))
    _, soft = merge_snr_and_agreement(frames, T, 1, G, config)
    _, hard = merge_snr_and_agreement(frames, T, 1, G, SNRMergeConfig(noise=config.noise, seams=Seams.hard()))
    assert soft[12:28, 12:28].max() == 0 and hard[12:28, 12:28].max() == 0  # the moved patch is rejected
    assert set(np.unique(hard)) <= {0.0, 1.0}
    edge = soft[20, :]
    assert ((edge > 0.05) & (edge < 0.95)).any()  # a soft edge, not a step
    assert soft[20, 9] < hard[20, 9] or hard[20, 9] == 0  # grown: the rim of the motion is covered too
    assert soft[0:2, 0:2].min() > 0.99  # far from the motion every frame is used


def test_seam_settings_are_checked():
    with pytest.raises(UsageError):
        Seams(clip_taper=-0.1)
    with pytest.raises(UsageError):
        Seams(feather=-1)


def test_the_warp_draws_no_contour_along_an_edge(monkeypatch):
    # a bright window edge moved by a fraction of a pixel: cubic interpolation overshoots on both
    # sides (a 1-px dark line beside the bright side); held within the neighbours' values it does not
    import selfhdr_cli.merge.align as align

    image = np.full((32, 32, 3), 0.2, np.float32)
    image[:, 16:] = 0.95
    flow = np.zeros((32, 32, 2), np.float32)
    flow[..., 0] = 0.5
    clamped, _ = align.warp(image, flow, "cubic")
    assert clamped.min() >= 0.2 - 1e-6 and clamped.max() <= 0.95 + 1e-6
    assert np.abs(clamped[:, 15] - 0.575).max() < 0.01  # the edge itself still moves half a pixel
    monkeypatch.setattr(align, "CLAMP_CUBIC", False)
    ringing, _ = align.warp(image, flow, "cubic")
    assert ringing.min() < 0.2 - 0.02  # the contour this guards against


def test_seam_settings_belong_to_the_color_method():
    from conftest import bracket_settings
    from selfhdr_cli.merge.method import MergeConfig

    MergeConfig(method="color", bracket=bracket_settings(), seams=Seams.hard())
    with pytest.raises(UsageError, match="seam settings apply to --method color only"):
        MergeConfig(method="net", bracket=bracket_settings(), seams=Seams.hard())
    with pytest.raises(UsageError):
        Seams(feather=4)  # beyond the strips' halo
