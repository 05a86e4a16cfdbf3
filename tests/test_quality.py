"""Departures from the reference (merge.quality): what a merge adds that the reference does not hold."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from conftest import bracket_settings, dynamic_bracket, write_bracket
from selfhdr_cli.cli import app
from selfhdr_cli.merge.bracket import bracket_from_arrays
from selfhdr_cli.merge.method import MergeConfig, merge_bracket
from selfhdr_cli.merge.quality import departures, reference_noise
from selfhdr_cli.radiometry.response import DEFAULT_RESPONSE


def _scores(frames):
    bracket = bracket_from_arrays(frames, [1, 4, 16])
    out = {}
    for method in ("ref", "color", "debevec"):
        hdr = merge_bracket(bracket, MergeConfig(method=method, bracket=bracket_settings()))
        out[method] = departures(hdr, bracket.frames[1], 4.0, DEFAULT_RESPONSE)
    return out


def test_the_reference_scores_zero_a_ghost_does_not_and_the_aligned_merge_less():
    frames, _, _ = dynamic_bracket(192, 256, shift=14)
    scores = _scores(frames)
    assert scores["ref"].share == 0.0
    assert scores["debevec"].share > 0.002  # the unaligned merge ghosts where the object moved
    assert scores["color"].share < scores["debevec"].share / 4


def test_a_seam_is_a_departure_and_a_brightness_change_is_not():
    frames, _, _ = dynamic_bracket(192, 256, shift=0, static=True)
    reference = frames[1]
    hdr = DEFAULT_RESPONSE.to_linear(reference) / 4
    assert departures(hdr * 1.3, reference, 4.0, DEFAULT_RESPONSE).share == 0  # locally affine: not structure
    seamed = hdr.copy()
    seamed[:, 100] *= 0.4  # a dark 1-px contour line
    found = departures(seamed, reference, 4.0, DEFAULT_RESPONSE)
    assert found.share > 0 and found.mask[:, 100].mean() > 0.5


def test_noise_estimate_tracks_added_noise():
    flat = np.full((200, 300, 3), 0.5, np.float32)
    noisy = flat + np.random.default_rng(0).normal(0, 0.02, flat.shape).astype(np.float32)
    assert reference_noise(flat) < 1e-4 and abs(reference_noise(noisy) - 0.02 / np.sqrt(3)) < 0.004


def test_merge_json_reports_the_quality(tmp_path):
    frames, _, _ = dynamic_bracket(96, 128, shift=4)
    paths = write_bracket(tmp_path / "s", frames)
    r = CliRunner().invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "o.exr"), "--json"])
    assert r.exit_code == 0, r.output
    quality = json.loads(r.stdout)["quality"]
    assert quality["response"] == "gamma:2.2" and 0 <= quality["departures_percent"] < quality["warn_above_percent"]
    residual = quality["alignment_residual_stops"]
    assert len(residual) == 3 and residual[1] is None and all(0 <= r < 1 for r in (residual[0], residual[2]))


def test_merge_stats_say_where_the_merge_took_its_light():
    from selfhdr_cli.merge.method import merge_bracket_with_stats

    config = MergeConfig(method="color", bracket=bracket_settings())
    still, _, _ = dynamic_bracket(192, 256, shift=0, static=True)
    moving, _, _ = dynamic_bracket(192, 256, shift=14)
    _, calm = merge_bracket_with_stats(bracket_from_arrays(still, [1, 4, 16]), config)
    _, busy = merge_bracket_with_stats(bracket_from_arrays(moving, [1, 4, 16]), config)
    for stats in (calm, busy):
        assert len(stats.frame_shares) == 3 and abs(sum(stats.frame_shares) - 1) < 1e-6
        assert min(stats.frame_shares) > 0.1  # every frame is averaged in, not one picked per pixel
    assert calm.rejected < 0.01 < busy.rejected  # an object moved: frames were rejected around it
    _, none = merge_bracket_with_stats(bracket_from_arrays(still, [1, 4, 16]),
                                       MergeConfig(method="debevec", bracket=bracket_settings()))
    assert none is None


def test_alignment_residual_grows_when_a_frame_is_left_unregistered():
    """alignment_residuals: a registered static bracket differs from its reference by its noise (0.07–0.11
    stops here); the same frame shifted by 6 px, unaligned, by much more. None for the reference."""
    from selfhdr_cli.merge.color import alignment_residuals
    from selfhdr_cli.merge.method import merge_bracket_with_stats

    still, _, _ = dynamic_bracket(192, 256, shift=0, static=True)
    t = np.array([1.0, 4.0, 16.0])
    registered = alignment_residuals(still, t, 1, DEFAULT_RESPONSE)
    shifted = [still[0], still[1], np.roll(still[2], 6, axis=1)]
    unregistered = alignment_residuals(shifted, t, 1, DEFAULT_RESPONSE)
    assert registered[1] is None and unregistered[1] is None
    assert max(registered[0], registered[2]) < 0.15  # noise, in stops
    assert unregistered[2] > 5 * registered[2] and unregistered[0] == registered[0]
    _, stats = merge_bracket_with_stats(bracket_from_arrays(still, t), MergeConfig(method="color",
                                                                                   bracket=bracket_settings()))
    assert stats.alignment_residual_stops[1] is None and stats.alignment_residual_stops[2] < 0.15


def test_clipped_departures_see_a_wrong_colour_where_the_reference_clips():
    """Where the reference clips and the short frame sees, a merge with the short frame's colour
    and level departs nowhere; one that renders the highlight white (the clipped reference) or
    magenta departs over the whole patch; misalignment specks do not count."""
    from selfhdr_cli.merge.quality import clipped_departures
    from selfhdr_cli.radiometry.response import CameraResponse

    g = CameraResponse("gamma", 2.2)
    rng = np.random.default_rng(0)
    sky = np.float32([0.35, 0.55, 0.9]) * 0.6  # linear, short-exposure units: bright blue
    radiance = np.full((64, 80, 3), 0.05, np.float32) + 0.01 * rng.random((64, 80, 3), dtype=np.float32)
    radiance[10:40, 20:70] = sky
    times = (1.0, 4.0)
    short = g.from_linear(np.clip(radiance * times[0], 0, 1))
    reference = g.from_linear(np.clip(radiance * times[1], 0, 1))
    assert (reference[10:40, 20:70] >= 0.98).any(axis=-1).all()  # the sky clips in the reference
    faithful = clipped_departures(radiance, reference, short, 1.0, g)
    assert faithful.well_exposed > 0.2 and faithful.share == 0.0
    white = radiance.copy()
    white[10:40, 20:70] = 1.0 / times[1]
    magenta = radiance.copy()
    magenta[10:40, 20:70] = np.float32([0.6, 0.25, 0.6])
    for wrong in (white, magenta):
        assert clipped_departures(wrong, reference, short, 1.0, g).share > 0.9
    specks = radiance.copy()
    specks[12:14, 30:32] = np.float32([0.6, 0.25, 0.6])  # 4 px: an edge the alignment missed
    assert clipped_departures(specks, reference, short, 1.0, g).share == 0.0
