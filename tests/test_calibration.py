"""Camera-response calibration (Debevec & Malik) and --crf response.json."""

from __future__ import annotations

import json

import cv2
import numpy as np
from typer.testing import CliRunner

from conftest import procedural_radiance, write_bracket
from selfhdr_cli.cli import app
from selfhdr_cli.evaluation.metrics import score_hdr
from selfhdr_cli.evaluation.synth import SensorConfig, render_bracket
from selfhdr_cli.io.hdrfile import read_hdr_image
from selfhdr_cli.radiometry.response import CameraResponse, parse_response

runner = CliRunner()


def filmic_response() -> CameraResponse:
    """A filmic toe and shoulder (ACES-like fit), far from any gamma: linear 0..1 → LDR 0..1."""
    x = np.linspace(0, 1, 1024)
    y = (x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14)
    ldr = y / y[-1]
    levels = np.linspace(0, 1, 1024)
    linear = np.interp(levels, ldr, x)  # g: LDR level → linear
    linear = np.maximum.accumulate(linear) + np.arange(1024) * 1e-9
    return CameraResponse(kind="table", curves=(tuple(linear),) * 3, source="filmic")


def filmic_bracket(seed: int, ev=(0.0, 2.0, 4.0)):
    canvas = procedural_radiance(160, 224, seed) * 0.8
    sensor = SensorConfig(response=filmic_response(), bits=8)
    return render_bracket(canvas, (160, 224), [], list(ev), 1, sensor, np.random.default_rng(seed))


def scale_free(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` scaled by the one factor that best fits ``gt`` (OpenCV's merge has arbitrary units)."""
    ok = (gt > 1e-3) & (gt < 0.9)
    return pred * float(np.median(gt[ok] / np.maximum(pred[ok], 1e-9)))


def test_table_response_round_trips_and_matches_torch():
    import torch

    g = filmic_response()
    x = np.random.default_rng(0).random((20, 30, 3)).astype(np.float32)
    np.testing.assert_allclose(g.from_linear(g.to_linear(x)), x, atol=2e-3)
    tensor = g.to_linear_tensor(torch.from_numpy(x).movedim(-1, -3)).movedim(-3, -1).numpy()
    np.testing.assert_allclose(tensor, g.to_linear(x), atol=1e-5)
    flat_channels = np.tile(np.arange(3), 600)
    np.testing.assert_allclose(g.to_linear(x.reshape(-1), flat_channels), g.to_linear(x).reshape(-1))


def test_calibrated_merge_beats_the_gamma_assumption_and_matches_opencv(tmp_path):
    brackets = []
    for seed in (1, 2):
        frames, gt, _ = filmic_bracket(seed)
        brackets.append((write_bracket(tmp_path / f"s{seed}", frames, bits=8,
                                       names=("a.png", "b.png", "c.png")), frames, gt))
    response = tmp_path / "camera.json"
    r = runner.invoke(app, ["calibrate", str(tmp_path / "s1"), str(tmp_path / "s2"), "-o", str(response), "--json"])
    assert r.exit_code == 0, r.output
    document = json.loads(response.read_text())
    assert document["levels"] == 256 and len(document["curves"]["g"]) == 256
    assert parse_response(str(response)).kind == "table"
    paths, frames, gt = brackets[0]
    scores = {}
    for name, crf in (("gamma", "gamma:2.2"), ("calibrated", str(response))):
        out = tmp_path / f"{name}.exr"
        r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(out), "--crf", crf,
                                "--trust-exposures"])
        assert r.exit_code == 0, r.output
        scores[name] = score_hdr(scale_free(read_hdr_image(out), gt), gt).psnr_mu
    images = [cv2.imread(str(p))[:, :, ::-1].copy() for p in paths]
    times = np.asarray([1.0, 4.0, 16.0], np.float32)
    curve = cv2.createCalibrateDebevec().process(images, times)
    opencv = cv2.createMergeDebevec().process(images, times, curve)
    scores["opencv"] = score_hdr(scale_free(opencv.astype(np.float32), gt), gt).psnr_mu
    assert scores["calibrated"] > scores["gamma"] + 8, scores
    assert scores["calibrated"] > scores["opencv"] - 1.0, scores


def test_calibrate_refuses_what_it_cannot_use(tmp_path):
    flat = [np.full((32, 48, 3), v, np.float32) for v in (0.2, 0.4, 0.8)]
    paths = write_bracket(tmp_path / "flat", flat, bits=8, names=("a.png", "b.png", "c.png"))
    r = runner.invoke(app, ["calibrate", *map(str, paths), "-o", str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "distinct levels" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = runner.invoke(app, ["merge", *map(str, paths), "-o", str(tmp_path / "o.exr"), "--crf", "nosuch.json"])
    assert r.exit_code == 2 and "no such response file" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = runner.invoke(app, ["merge", *map(str, paths), "-o", str(tmp_path / "o.exr"), "--crf", str(bad)])
    assert r.exit_code == 1 and "not a response file" in r.stderr


def test_calibrate_refuses_a_flat_fit_and_few_levels(tmp_path):
    frames, _, _ = filmic_bracket(3)
    paths = write_bracket(tmp_path / "s", frames, bits=8, names=("a.png", "b.png", "c.png"), exposure_txt=False)
    r = runner.invoke(app, ["calibrate", *map(str, paths), "--ev", "4,2,0", "-o", str(tmp_path / "rev.json")])
    assert r.exit_code == 2 and "flat" in r.stderr and not (tmp_path / "rev.json").exists()
    r = runner.invoke(app, ["calibrate", *map(str, paths), "--ev", "0,2,4", "--levels", "1", "-o", str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "at least 16 levels" in r.stderr
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000)
    r = runner.invoke(app, ["merge", *map(str, paths), "--ev", "0,2,4", "--crf", str(deep), "-o", str(tmp_path / "o.exr")])
    assert r.exit_code == 1 and "nested too deeply" in r.stderr
