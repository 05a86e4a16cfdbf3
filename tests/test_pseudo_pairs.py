"""training.pseudo_pairs: brackets rendered again from agreeing crops, with an exact label."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from conftest import procedural_radiance
from selfhdr_cli.radiometry.response import CameraResponse
from selfhdr_cli.training.pseudo_pairs import PseudoPairConfig, random_polygon, render_pseudo_pair, sample_pseudo_batch
from selfhdr_cli.training.trainset import TrainScene

GAMMA = CameraResponse("gamma")


def _scene(seed: int = 0, agree: float = 1.0) -> TrainScene:
    radiance = procedural_radiance(160, 200, seed) * np.float32(0.3)
    frames = np.zeros((3, 160, 200, 3), np.float32)  # the renderer reads only Y_color, the gate and the times
    return TrainScene(name="s", frames=frames, aligned=frames, times=np.array([1.0, 4.0, 16.0], np.float32),
                      y_color=radiance, gate=np.full((160, 200, 1), agree, np.float32))


STILL = PseudoPairConfig(elastic_px=(0.0, 0.0), occluder=0.0, shot=0.0, read=0.0)


def test_without_motion_or_noise_every_frame_measures_the_label():
    """The label is the radiance the frames were rendered from: each frame, linearised and divided by
    its time, equals it wherever that frame is neither clipped nor dark (up to 16-bit quantisation)."""
    pair = render_pseudo_pair(_scene(), 64, GAMMA, STILL, np.random.default_rng(0))
    assert pair.frames.shape == (3, 64, 64, 3) and pair.label.shape == (64, 64, 3)
    for k, t in enumerate(pair.times):
        ok = (pair.frames[k] > 0.05) & (pair.frames[k] < 0.95)
        assert ok.mean() > 0.1
        measured = GAMMA.to_linear(pair.frames[k]) / t
        np.testing.assert_allclose(measured[ok], pair.label[ok], rtol=2e-3)
    assert np.all(pair.focus == 1.0)  # nothing moved: no pixel is weighted up


@pytest.mark.parametrize("seed", range(4))
def test_the_reference_clips_the_share_asked(seed):
    pair = render_pseudo_pair(_scene(seed), 64, GAMMA, STILL, np.random.default_rng(seed))
    clipped = (pair.frames[1].max(axis=-1) >= 0.999).mean()
    assert 0.08 <= clipped <= 0.42, clipped


def test_occluders_move_over_clipped_pixels_and_are_weighted_up():
    """With an occluder over clipped reference pixels every time, something moves where the reference
    clips: those pixels weigh 1 + focus in the loss; the reference frame shows the label's occluder."""
    config = replace(PseudoPairConfig(), occluder=1.0, over_clipped=1.0, elastic_px=(0.0, 0.0))
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(6):
        pair = render_pseudo_pair(_scene(1), 64, GAMMA, config, rng)
        hits += bool((pair.focus > 1).any())
        assert set(np.unique(pair.focus)) <= {1.0, 1.0 + config.focus}
    assert hits >= 4


def test_polygons_are_soft_and_fill_their_box():
    mask = random_polygon(40, np.random.default_rng(2))
    assert mask.shape == (40, 40) and 0.1 < mask.mean() < 0.9
    assert ((mask > 0.05) & (mask < 0.95)).any()  # a soft edge, not a hard cut


def test_a_batch_has_the_networks_layout():
    from selfhdr_cli.merge.align import AlignConfig
    from selfhdr_cli.merge.color import ColorConfig

    color = ColorConfig(GAMMA, AlignConfig(), "snr")
    batch = sample_pseudo_batch([_scene(0), _scene(1)], 2, 48, np.random.default_rng(0), GAMMA, color, guided=True)
    assert batch["frames"].shape == (2, 3, 6, 48, 48) and batch["aligned"].shape == (2, 3, 6, 48, 48)
    assert batch["guide"].shape == (2, 4, 48, 48) and batch["label"].shape == (2, 3, 48, 48)
    assert batch["focus"].shape == (2, 1, 48, 48) and float(batch["focus"].min()) >= 1.0
    unguided = sample_pseudo_batch([_scene(0)], 1, 48, np.random.default_rng(0), GAMMA, color, guided=False)
    assert "guide" not in unguided


def test_camera_crops_go_through_a_curve_of_their_own_in_8_bits():
    """With ``camera`` = 1 every crop is a camera JPEG: 8-bit codes, its own per-channel curve, and the
    label still the radiance the curve was fed (here without motion or noise: each frame linearised
    through that curve measures it, up to JPEG)."""
    config = replace(STILL, camera=1.0)
    pair = render_pseudo_pair(_scene(2), 64, GAMMA, config, np.random.default_rng(4))
    assert pair.response.kind == "table" and pair.response != GAMMA
    codes = pair.frames * 255
    assert np.abs(codes - np.round(codes)).max() < 1e-3
    ok = (pair.frames[1] > 0.1) & (pair.frames[1] < 0.9)
    measured = pair.response.to_linear(pair.frames[1]) / pair.times[1]
    assert np.median(np.abs(measured[ok] / pair.label[ok] - 1)) < 0.05


def _noisy_scene(noise_scale: float, seed: int = 3) -> TrainScene:
    """A static bracket rendered with noise_scale × the default shot and read noise."""
    from selfhdr_cli.evaluation.synth import SensorConfig, render_bracket

    canvas = procedural_radiance(176, 216, seed) * np.float32(0.3)
    base = SensorConfig(response=GAMMA, bits=16)
    sensor = replace(base, shot=base.shot * noise_scale ** 2, read=base.read * noise_scale)
    frames, gt, _ = render_bracket(canvas, (160, 200), [], [0.0, 2.0, 4.0], 1, sensor, np.random.default_rng(seed))
    frames = np.stack(frames)
    return TrainScene(name="n", frames=frames, aligned=frames, times=np.array([1.0, 4.0, 16.0], np.float32),
                      y_color=gt, gate=np.ones((160, 200, 1), np.float32))


def test_measured_noise_renders_a_noisier_camera_noisier():
    """With measured_noise each scene's own fitted noise replaces the fixed one: a bracket with 3× the
    sensor noise gives pseudo-pairs whose frames are noisier than a clean bracket's."""
    from selfhdr_cli.training.pseudo_pairs import scene_noise

    quiet, loud = _noisy_scene(1.0), _noisy_scene(3.0)
    noise_quiet, noise_loud = scene_noise(quiet, GAMMA), scene_noise(loud, GAMMA)
    assert noise_loud.read > 2 * noise_quiet.read or noise_loud.shot > 4 * noise_quiet.shot, (noise_quiet, noise_loud)
    config = replace(STILL, measured_noise=True)

    def residual(scene, noise) -> float:
        pair = render_pseudo_pair(scene, 64, GAMMA, config, np.random.default_rng(0), noise)
        ok = (pair.frames[1] > 0.05) & (pair.frames[1] < 0.95)
        return float(np.std((GAMMA.to_linear(pair.frames[1]) / pair.times[1] - pair.label)[ok]))

    assert residual(quiet, noise_loud) > 1.5 * residual(quiet, noise_quiet)
    with pytest.raises(ValueError, match="measured_noise"):
        sample_pseudo_batch([quiet], 1, 48, np.random.default_rng(0), GAMMA, None, guided=False, config=config)


def test_exposure_steps_draw_each_crops_own_ratios_in_the_range():
    """With exposure_steps the frames are rendered at ratios drawn in the range, not the scene's 4×;
    the label still equals what an unclipped frame measures."""
    config = replace(STILL, exposure_steps=(2.0, 64.0))
    rng = np.random.default_rng(3)
    ratios = []
    for _ in range(12):
        pair = render_pseudo_pair(_scene(2), 64, GAMMA, config, rng)
        assert pair.times[0] == 1.0
        ratios += [pair.times[1] / pair.times[0], pair.times[2] / pair.times[1]]
        ok = (pair.frames[1] > 0.05) & (pair.frames[1] < 0.95)
        np.testing.assert_allclose(GAMMA.to_linear(pair.frames[1])[ok] / pair.times[1], pair.label[ok], rtol=2e-3)
    assert min(ratios) >= 2.0 and max(ratios) <= 64.0 and max(ratios) > 16 and min(ratios) < 8
    fixed = replace(STILL, exposure_steps=(8.0, 8.0))
    np.testing.assert_allclose(render_pseudo_pair(_scene(2), 64, GAMMA, fixed, rng).times, [1, 8, 64], rtol=1e-5)


def test_raised_highlights_bring_the_short_frame_near_clipping_and_keep_the_reference():
    """With highlights, what the reference clips is brightened until the short frame's brightest
    channel nears clipping (unless it does already); what the reference sees, and so its clipped
    share, is unchanged."""
    for seed in range(4):
        plain = render_pseudo_pair(_scene(seed), 64, GAMMA, STILL, np.random.default_rng(seed))
        config = replace(STILL, highlights=1.0, highlight_peak=(0.9, 0.9))
        raised = render_pseudo_pair(_scene(seed), 64, GAMMA, config, np.random.default_rng(seed))
        plain_peak = float(GAMMA.to_linear(plain.frames[0]).max())
        raised_peak = float(GAMMA.to_linear(raised.frames[0]).max())
        assert abs(raised_peak - max(plain_peak, 0.9)) < 0.03, (plain_peak, raised_peak)
        unclipped = plain.frames[1].max(axis=-1) < 0.98
        np.testing.assert_allclose(raised.frames[1][unclipped], plain.frames[1][unclipped], atol=2e-3)
