"""End to end through the CLI: known radiance, known motion, recovered radiance."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from conftest import dynamic_bracket, write_bracket
from selfhdr_cli.cli import app
from selfhdr_cli.io.hdrfile import read_hdr_image
from selfhdr_cli.radiometry.mulaw import mu_law

runner = CliRunner()


def psnr_mu(pred, gt, mask=None):
    a, b = mu_law(pred), mu_law(gt)
    if mask is not None:
        a, b = a[mask], b[mask]
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


def test_color_recovers_radiance_and_beats_debevec_on_motion(tmp_path, moving_scene):
    frames, gt, moving = moving_scene
    paths = write_bracket(tmp_path / "scene", frames)
    out_c, out_d = tmp_path / "color.exr", tmp_path / "debevec.exr"
    r = runner.invoke(app, ["merge", *map(str, paths), "-o", str(out_c), "--method", "color"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["merge", *map(str, paths), "-o", str(out_d), "--method", "debevec"])
    assert r.exit_code == 0, r.output
    color, debevec = read_hdr_image(out_c), read_hdr_image(out_d)
    # The static version of this scene merges to ~42 dB (noise, 16-bit quantisation and
    # flow jitter bound it); motion covers ~8 % of the frame, so 37 dB leaves room for
    # honest residual error in occlusions while a ghosted merge (~31 dB) fails.
    assert psnr_mu(color, gt) > 37.0
    # Inside the moving region a ghost costs > 10 dB; alignment must win by a wide margin.
    assert psnr_mu(color, gt, moving) > psnr_mu(debevec, gt, moving) + 6.0


def test_file_order_does_not_matter(tmp_path, moving_scene):
    frames, gt, _ = moving_scene
    paths = write_bracket(tmp_path / "s", frames, exposure_txt=False)
    out1, out2 = tmp_path / "1.exr", tmp_path / "2.exr"
    assert runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "--ev", "0,2,4", "-o", str(out1)]).exit_code == 0
    shuffled = [paths[2], paths[0], paths[1]]
    assert runner.invoke(app, ["merge", "-m", "color", *map(str, shuffled), "--ev", "4,0,2", "-o", str(out2)]).exit_code == 0
    np.testing.assert_array_equal(read_hdr_image(out1), read_hdr_image(out2))


def test_exposures_in_seconds_equal_ev(tmp_path, moving_scene):
    frames, _, _ = moving_scene
    paths = write_bracket(tmp_path / "s", frames, exposure_txt=False)
    a, b = tmp_path / "a.exr", tmp_path / "b.exr"
    assert runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "--exposures", "1/64,1/16,1/4", "-o", str(a)]).exit_code == 0
    assert runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "--ev", "-2,0,2", "-o", str(b)]).exit_code == 0
    np.testing.assert_allclose(read_hdr_image(a), read_hdr_image(b), rtol=1e-6)


def test_units_seconds_scales_by_shortest_time(tmp_path, moving_scene):
    frames, _, _ = moving_scene
    paths = write_bracket(tmp_path / "s", frames, exposure_txt=False)
    a, b = tmp_path / "a.exr", tmp_path / "b.exr"
    args = ["merge", *map(str, paths), "--exposures", "1/64,1/16,1/4", "-m", "debevec"]
    assert runner.invoke(app, args + ["-o", str(a)]).exit_code == 0
    assert runner.invoke(app, args + ["-o", str(b), "--units", "seconds"]).exit_code == 0
    np.testing.assert_allclose(read_hdr_image(b), read_hdr_image(a) * 64, rtol=1e-5)
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "--ev", "0,2,4", "--units", "seconds", "-o",
                            str(tmp_path / "c.exr")])
    assert r.exit_code == 2 and "seconds" in r.output


def test_hdr_output_and_preview(tmp_path, moving_scene):
    frames, gt, _ = moving_scene
    paths = write_bracket(tmp_path / "s", frames)
    out, png = tmp_path / "out.hdr", tmp_path / "out.png"
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(out), "--preview", str(png), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["exposure_source"].endswith("exposure.txt")
    assert summary["reference"] == 1 and summary["size"] == [256, 192]
    hdr = read_hdr_image(out)
    assert hdr.shape == gt.shape and psnr_mu(hdr, gt) > 35  # RGBE keeps ~1 % per pixel
    import cv2

    preview = cv2.imread(str(png))
    assert preview.shape == (192, 256, 3) and preview.dtype == np.uint8
    assert 30 < preview.mean() < 220  # automatic exposure lands mid-grey, not black or white


def test_half_exr_is_float16(tmp_path, moving_scene):
    import OpenEXR

    frames, _, _ = moving_scene
    paths = write_bracket(tmp_path / "s", frames)
    out = tmp_path / "h.exr"
    assert runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(out), "--half"]).exit_code == 0
    with OpenEXR.File(str(out)) as f:
        assert f.channels()["RGB"].pixels.dtype == np.float16


def test_two_and_five_frame_brackets(tmp_path):
    frames, gt, _ = dynamic_bracket(static=True)
    # exposure.txt lines follow file-name order: m.png before n.png (the pixel check caught an l/m mix-up here)
    two = write_bracket(tmp_path / "two", frames[1:], ev=(2, 4), names=("m.png", "n.png"))
    out = tmp_path / "two.exr"
    assert runner.invoke(app, ["merge", "-m", "color", *map(str, two), "-o", str(out)]).exit_code == 0
    assert read_hdr_image(out).shape == gt.shape
    out5 = tmp_path / "five.exr"
    from conftest import procedural_radiance
    from selfhdr_cli.evaluation.synth import SensorConfig, render_bracket

    canvas = procedural_radiance(120, 160, 3) * 0.2  # the short frame must not clip
    f5, gt5, _ = render_bracket(canvas, (120, 160), [], [0, 1, 2, 3, 4], 2, SensorConfig(), np.random.default_rng(1))
    five = write_bracket(tmp_path / "five", f5, ev=(0, 1, 2, 3, 4), names=[f"{k}.tif" for k in range(5)])
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, five), "-o", str(out5), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["reference"] == 2
    assert psnr_mu(read_hdr_image(out5), gt5) > 38


def test_python_m_entry_point(tmp_path, moving_scene):
    frames, _, _ = moving_scene
    paths = write_bracket(tmp_path / "s", frames)
    out = tmp_path / "o.exr"
    proc = subprocess.run([sys.executable, "-m", "selfhdr_cli", "merge", "-m", "color", *map(str, paths), "-o", str(out), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["output"] == str(out)  # stdout holds only the JSON
    assert out.is_file()


def test_method_net_with_missing_or_bad_weights_fails_cleanly(tmp_path, bracket_files, monkeypatch):
    monkeypatch.setenv("SELFHDR_WEIGHTS", str(tmp_path / "none.safetensors"))
    r = runner.invoke(app, ["merge", *map(str, bracket_files), "-o", str(tmp_path / "x.exr"), "--method", "net"])
    assert r.exit_code == 2 and "no such weights file" in r.stderr
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    r = runner.invoke(app, ["merge", *map(str, bracket_files), "-o", str(tmp_path / "x.exr"), "-m", "net",
                            "--weights", str(bad)])
    assert r.exit_code == 1 and "bad.safetensors" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.exr").exists()


def test_network_options_with_another_method_are_refused(tmp_path, bracket_files):
    """--weights, --tile and --device mean nothing to color/debevec/ref: refused, not ignored."""
    for extra in (["--weights", "x.safetensors"], ["--tile", "256"], ["--device", "cpu"]):
        r = runner.invoke(app, ["merge", *map(str, bracket_files), "-m", "color", "-o", str(tmp_path / "o.exr"),
                                *extra])
        assert r.exit_code == 2 and "--method net only" in r.stderr, (extra, r.stderr)
    assert not (tmp_path / "o.exr").exists()


def test_color_merge_snr_through_the_cli(tmp_path, bracket_files):
    r = runner.invoke(app, ["merge", *map(str, bracket_files), "-m", "color", "--color-merge", "snr",
                            "-o", str(tmp_path / "snr.exr")])
    assert r.exit_code == 0, r.output
    hdr = read_hdr_image(tmp_path / "snr.exr")
    assert hdr.shape == (192, 256, 3) and np.isfinite(hdr).all()
    for args in (["-m", "net", "--color-merge", "snr"], ["-m", "color", "--color-merge", "median"]):
        r = runner.invoke(app, ["merge", *map(str, bracket_files), *args, "-o", str(tmp_path / "x.exr")])
        assert r.exit_code == 2 and "color merge" in r.stderr.lower().replace("-", " "), (args, r.stderr)
