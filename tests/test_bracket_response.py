"""A bracket's own camera response (--crf auto): fitted where it explains the frames, else kept."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from conftest import bracket_settings, procedural_radiance, write_bracket
from selfhdr_cli.cli import app
from selfhdr_cli.merge.bracket import load_bracket
from selfhdr_cli.merge.bracket_response import MAX_RESIDUAL_STOPS, fit_bracket_response
from selfhdr_cli.radiometry.response import CameraResponse

runner = CliRunner()
GAMMA = CameraResponse("gamma")


def camera_curve(linear: np.ndarray) -> np.ndarray:
    """A camera's rendering that is not a gamma: an S-shaped tone curve (toe and shoulder)."""
    x = np.clip(linear, 0, 1) ** (1 / 2.2)
    return np.clip(1.15 * x / (1 + 0.15 * x) * (0.85 + 0.15 * x), 0, 1) ** 1.1


def camera_bracket(times=(1.0, 4.0, 16.0), seed=0, levels=255) -> list[np.ndarray]:
    radiance = procedural_radiance(160, 200, seed) * 0.5
    return [np.round(camera_curve(radiance * t) * levels).astype(np.float32) / levels for t in times]


def test_the_fit_recovers_a_non_gamma_camera():
    frames = camera_bracket()
    own = fit_bracket_response(frames, [1.0, 4.0, 16.0], GAMMA)
    assert own.fitted and own.residual_stops < MAX_RESIDUAL_STOPS
    levels = np.linspace(0.1, 0.9, 9, dtype=np.float32)
    # the truth: the inverse of camera_curve, by a dense table
    grid = np.linspace(0, 1, 20001, dtype=np.float64)
    truth = np.interp(levels, camera_curve(grid), grid)
    fitted = own.response.to_linear(np.repeat(levels[:, None], 3, axis=1))[:, 1]
    ratio = fitted / truth
    # known up to one scale factor; within 8 % of the truth's shape, where gamma 2.2 is far off
    assert np.ptp(ratio) / ratio.mean() < 0.08
    gamma_ratio = (levels ** 2.2) / truth
    assert np.ptp(gamma_ratio) / gamma_ratio.mean() > 0.2
    assert "fitted" in own.note


def test_frames_that_do_not_fit_keep_the_fallback():
    rng = np.random.default_rng(1)
    frames = [np.round(rng.random((120, 160, 3)) * 255).astype(np.float32) / 255 for _ in range(3)]
    own = fit_bracket_response(frames, [1.0, 4.0, 16.0], GAMMA)
    assert not own.fitted and own.response is GAMMA
    assert own.note.startswith("camera response: kept gamma:2.2")


def test_an_8_bit_bracket_is_merged_with_its_own_response(tmp_path):
    paths = write_bracket(tmp_path / "jpegs", camera_bracket(), names=("a.png", "b.png", "c.png"), bits=8)
    bracket = load_bracket(paths, bracket_settings(fit_response=True))
    assert bracket.response is not None and bracket.response.kind == "table"
    assert bracket.response_note.startswith("camera response: fitted")
    # without auto, or for 16-bit frames, nothing is fitted
    assert load_bracket(paths, bracket_settings()).response is None
    sixteen = write_bracket(tmp_path / "tiffs", camera_bracket(levels=65535), bits=16)
    assert load_bracket(sixteen, bracket_settings(fit_response=True)).response is None


def test_merge_fits_by_default_and_says_so(tmp_path):
    paths = write_bracket(tmp_path / "jpegs", camera_bracket(), names=("a.png", "b.png", "c.png"), bits=8)
    out = tmp_path / "out.exr"
    r = runner.invoke(app, ["merge", *map(str, paths), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["method"] == "color"  # the default method
    assert summary["quality"]["response_fitted"] is True
    assert "camera response: fitted" in r.stderr
    r = runner.invoke(app, ["merge", *map(str, paths), "-o", str(out), "--json", "--force", "--crf", "gamma:2.2"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["quality"]["response_fitted"] is False


def test_training_refuses_auto(tmp_path):
    r = runner.invoke(app, ["build-color", str(tmp_path), "-o", str(tmp_path / "out"), "--crf", "auto"])
    assert r.exit_code == 2
    assert "one response for every bracket" in r.output


def test_a_flat_fit_is_not_kept():
    from selfhdr_cli.merge.bracket_response import MIN_STEP_RISE, flattest_step

    levels = np.linspace(0, 1, 256)
    gamma = np.stack([levels ** 2.2] * 3)
    assert flattest_step(gamma) > 0.1
    plateau = gamma.copy()
    plateau[1, 200:] = plateau[1, 200]  # what a fit misled by motion looks like once forced monotone
    assert flattest_step(plateau) < MIN_STEP_RISE


def test_a_handheld_bracket_is_fitted_after_its_rigid_motion():
    # the same camera bracket, each frame shifted by the hand: without the rigid alignment every
    # location would mix scene points; with it the fit finds the camera's curve as on a tripod
    import cv2

    frames = camera_bracket()
    shifted = [cv2.warpAffine(f, np.float32([[1, 0, dx], [0, 1, dy]]), (f.shape[1], f.shape[0]),
                              borderMode=cv2.BORDER_REFLECT) for f, (dx, dy) in zip(frames, ((9, -6), (0, 0), (-7, 8)))]
    own = fit_bracket_response(shifted, [1.0, 4.0, 16.0], GAMMA, reference=1)
    assert own.fitted, own.note
    levels = np.linspace(0.2, 0.8, 7, dtype=np.float32)
    grid = np.linspace(0, 1, 20001, dtype=np.float64)
    truth = np.interp(levels, camera_curve(grid), grid)
    ratio = own.response.to_linear(np.repeat(levels[:, None], 3, axis=1))[:, 1] / truth
    assert np.ptp(ratio) / ratio.mean() < 0.1


def test_a_table_response_keeps_its_own_range():
    # a fitted curve scaled so that saturation reads 1 may top out above 1: re-exposing through it
    # (the departures measure, exposure matching) must not clip its linear values at 1
    levels = np.linspace(0, 1, 256)
    table = CameraResponse("table", curves=tuple(tuple(2.0 * levels ** 2.2) for _ in range(3)))
    x = np.linspace(0, 1, 11, dtype=np.float32)[:, None].repeat(3, axis=1)
    np.testing.assert_allclose(table.from_linear(table.to_linear(x)), x, atol=1e-4)
    assert table.from_linear(np.full((1, 3), 1.5, np.float32)).max() < 0.99


def test_a_gamma_camera_keeps_gamma():
    # frames that gamma 2.2 explains gain nothing from a fit of their own (whose scale is its weak part)
    radiance = procedural_radiance(160, 200, 0) * 0.5
    frames = [np.round(np.clip(radiance * t, 0, 1) ** (1 / 2.2) * 255).astype(np.float32) / 255 for t in (1, 4, 16)]
    own = fit_bracket_response(frames, [1.0, 4.0, 16.0], GAMMA)
    assert not own.fitted and own.response is GAMMA
    assert "explains the frames as well as the bracket's own fit" in own.note
