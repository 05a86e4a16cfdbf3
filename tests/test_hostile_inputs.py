"""Hostile and unusual inputs on the newer surface (RAW, compressed TIFF, exposure and response
files, calibrate, --half, previews, training outputs): never exit 0 with a wrong result, one line
otherwise, nothing lost. One test per case of the second reliability review."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from conftest import bracket_settings, dynamic_bracket, procedural_radiance, write_bracket
from selfhdr_cli.cli import app

runner = CliRunner()


def one_line_error(result, code: int, *words: str) -> None:
    """Exit ``code``, one stderr line starting 'selfhdr: error:' and holding ``words``."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("selfhdr: error:"), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def small():
    frames, gt, _ = dynamic_bracket(96, 128, shift=4, seed=5)
    return frames, gt


# ---- RAW ------------------------------------------------------------------------------------

def test_a_dng_frame_near_white_decodes_at_its_true_level(tmp_path):
    from test_raw import write_dng

    from selfhdr_cli.io.raw import RAW_GAMMA, RawOptions, read_raw

    radiance = procedural_radiance(96, 128, 11)
    radiance *= 0.95 / radiance.max()  # raw maximum ~87 % of white: LibRaw's default would rescale it
    path = write_dng(tmp_path / "short.dng", radiance, 1 / 250, np.random.default_rng(0))
    linear = read_raw(path, RawOptions("camera", "srgb", RAW_GAMMA)) ** RAW_GAMMA
    ok = radiance > 0.05
    ratio = float(np.median(linear[ok] / radiance[ok]))
    assert abs(ratio - 1.0) <= 0.005, ratio


def test_a_dng_with_black_at_or_above_white_is_refused(tmp_path):
    from test_raw import BLACK, write_dng

    path = write_dng(tmp_path / "bad.dng", procedural_radiance(64, 96, 1) * 0.01, 1 / 60,
                     np.random.default_rng(0))
    data = bytearray(path.read_bytes())
    white = (16383).to_bytes(2, "little")
    at = data.find(b"\x1d\xc6\x03\x00")  # tag 50717 (0xC61D) WhiteLevel, SHORT, little-endian
    assert at > 0
    value_at = at + 8  # tag (2), type (2), count (4), value (inline SHORT)
    assert bytes(data[value_at:value_at + 2]) == white
    data[value_at:value_at + 2] = (BLACK // 2).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    others = [write_dng(tmp_path / f"o{k}.dng", procedural_radiance(64, 96, 1) * 0.01 * 4 ** k, 1 / 60 * 4 ** k,
                        np.random.default_rng(k)) for k in (1, 2)]
    r = runner.invoke(app, ["merge", "-m", "color", str(path), *map(str, others), "-o", str(tmp_path / "o.exr")])
    one_line_error(r, 1, "black level")


def test_build_color_and_train_refuse_a_calibrated_crf_with_raw(tmp_path):
    from test_raw import write_dng

    scene = tmp_path / "data" / "s0"
    scene.mkdir(parents=True)
    radiance = procedural_radiance(64, 96, 2) * 0.2
    for k, t in enumerate((1 / 250, 1 / 60, 1 / 15)):
        write_dng(scene / f"IMG_{k}.dng", radiance * t * 250, t, np.random.default_rng(k))
    crf = tmp_path / "camera.json"
    levels = np.linspace(0, 1, 256) ** 2.0
    crf.write_text(json.dumps({"curves": {c: list(levels) for c in "rgb"}}))
    r = runner.invoke(app, ["build-color", str(scene), "-o", str(tmp_path / "bc"), "--crf", str(crf)])
    assert r.exit_code == 1 and "RAW frames are developed linearly" in r.stderr, r.output
    r = runner.invoke(app, ["merge", *map(str, sorted(scene.glob("*.dng"))), "-o", str(tmp_path / "lin.exr"),
                            "-m", "color", "--crf", "linear"])
    assert r.exit_code == 0, r.output  # their true response is accepted


# ---- frames ---------------------------------------------------------------------------------

def test_a_truncated_jpeg_compressed_tiff_is_refused(tmp_path, small):
    frames, _ = small
    paths = []
    for k, f in enumerate(frames):
        path = tmp_path / f"f{k}.tif"
        tifffile.imwrite(path, (f * 255).astype(np.uint8), photometric="rgb", compression="jpeg", rowsperstrip=16)
        paths.append(path)
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: int(len(data) * 0.6)])
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "--ev", "0,2,4", "-o", str(tmp_path / "o.exr")])
    one_line_error(r, 1, "f1.tif", "incomplete TIFF")


def test_a_tiff_with_empty_strips_is_refused(tmp_path, small):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames)
    with tifffile.TiffFile(paths[0]) as tif:
        offsets, counts = tif.pages[0].dataoffsets, tif.pages[0].databytecounts
    assert counts[0] > 0
    data = bytearray(paths[0].read_bytes())
    data[offsets[0]:] = b""  # what a failed write leaves: the header, no image data
    paths[0].write_bytes(bytes(data))
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "o.exr")])
    one_line_error(r, 1, "a.tif", "incomplete TIFF")


def test_a_truncated_jpeg_is_refused(tmp_path, small):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames, names=("a.jpg", "b.jpg", "c.jpg"))
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: int(len(data) * 0.7)])
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "o.exr")])
    one_line_error(r, 1, "c.jpg", "truncated JPEG")


def test_a_one_bit_png_is_refused(tmp_path, small):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames, names=("a.png", "b.png", "c.png"))
    from PIL import Image

    Image.fromarray((frames[0][..., 0] > 0.5)).convert("1").save(paths[0])
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "o.exr")])
    one_line_error(r, 1, "a.png", "1-bit PNG")


# ---- outputs --------------------------------------------------------------------------------

def test_half_above_its_range_is_refused_and_the_old_pair_is_kept(tmp_path, small):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames, exposure_txt=False)
    out, preview = tmp_path / "o.exr", tmp_path / "o.png"
    base = ["merge", "-m", "color", *map(str, paths), "-o", str(out), "--preview", str(preview)]
    assert runner.invoke(app, base + ["--exposures", "1/250,1/60,1/15"]).exit_code == 0
    before = (out.read_bytes(), preview.read_bytes())
    r = runner.invoke(app, base + ["--exposures", "1e-7,4e-7,1.6e-6", "--units", "seconds", "--half", "--force"])
    one_line_error(r, 2, "--half", "65504")
    assert (out.read_bytes(), preview.read_bytes()) == before  # one unit: neither replaced
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_a_preview_is_not_left_alone_when_the_hdr_cannot_be_written(tmp_path, small, monkeypatch):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames)
    out, preview = tmp_path / "o.exr", tmp_path / "o.png"
    from selfhdr_cli.io import hdrfile

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hdrfile, "_write_hdr_to", disk_full)
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(out), "--preview", str(preview)])
    one_line_error(r, 1, "No space left on device")
    assert not out.exists() and not preview.exists()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_a_dangling_symlink_output_is_refused_before_the_work(tmp_path, small):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames)
    link = tmp_path / "o.exr"
    link.symlink_to(tmp_path / "nowhere" / "x.exr")
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(link)])
    one_line_error(r, 2, "symbolic link to a missing file")


def test_dry_run_checks_the_output(tmp_path, small):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames)
    (tmp_path / "o.exr").write_bytes(b"x")
    r = runner.invoke(app, ["merge", *map(str, paths), "-o", str(tmp_path / "o.exr"), "--dry-run"])
    one_line_error(r, 2, "already exists")
    r = runner.invoke(app, ["merge", *map(str, paths), "-o", str(tmp_path / "n.exr"), "--dry-run", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["output"] == str(tmp_path / "n.exr")


def test_a_flat_batch_writing_into_its_own_folder_is_refused(tmp_path, small):
    frames, _ = small
    flat = tmp_path / "flat"
    write_bracket(flat, frames, exposure_txt=False, names=("x1.tif", "x2.tif", "x3.tif"))
    r = runner.invoke(app, ["merge", "-m", "color", "--batch", str(flat), "--group-size", "3", "-o", str(flat),
                            "--previews", "--ev", "0,2,4"])
    one_line_error(r, 2, "read as frames by the next run")


# ---- exposure and response files --------------------------------------------------------------

def test_exposure_files_take_names_with_spaces_comments_and_a_bom(tmp_path, small):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames, exposure_txt=False,
                          names=("my frame 1.tif", "my frame 2.tif", "my frame 3.tif"))
    listing = tmp_path / "times.txt"
    listing.write_text("\ufeff# shot on a tripod\n\"my frame 3.tif\"\t1/15\nmy frame 1.tif 1/250  # short\n"
                       "my frame 2.tif\t1/60\n", encoding="utf-8")
    r = runner.invoke(app, ["info", *map(str, paths), "--exposures", str(listing), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["exposure_times"] == pytest.approx([1 / 250, 1 / 60, 1 / 15])
    (tmp_path / "s" / "exposure.txt").write_text("\ufeff# EV\n0\n2  # middle\n\n4\n", encoding="utf-8")
    r = runner.invoke(app, ["info", *map(str, paths), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["exposure_times"] == pytest.approx([1, 4, 16])


def test_exposure_file_content_errors_exit_1_and_a_folder_is_said(tmp_path, small):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames, exposure_txt=False)
    bad = tmp_path / "times.txt"
    bad.write_text("1e300\n1/60\n1/15\n")
    r = runner.invoke(app, ["info", *map(str, paths), "--exposures", str(bad)])
    one_line_error(r, 1, "times.txt", "not an exposure time")
    r = runner.invoke(app, ["info", *map(str, paths), "--exposures", str(tmp_path / "s")])
    one_line_error(r, 2, "is a folder")
    r = runner.invoke(app, ["info", *map(str, paths), "--exposures", "1/250;1/60;1/15", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["exposure_times"] == pytest.approx([1 / 250, 1 / 60, 1 / 15])


@pytest.mark.parametrize("curves, words", [
    ({c: [-1.0, -0.5, 0.0] for c in "rgb"}, "must start at 0"),
    ({c: [0.0, 1e6, 1e12] for c in "rgb"}, "must start at 0"),
    ({"r": [0.0, 1.0], "g": [0.0, 0.5, 1.0], "b": [0.0, 1.0]}, "different lengths"),
])
def test_response_files_out_of_bounds_are_refused(tmp_path, small, curves, words):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames)
    crf = tmp_path / "camera.json"
    crf.write_text(json.dumps({"curves": curves}))
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "o.exr"), "--crf", str(crf),
                            "--trust-exposures"])
    one_line_error(r, 1, "camera.json", words)


def test_a_huge_or_odd_response_file_is_refused_cheaply(tmp_path, small):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames)
    crf = tmp_path / "big.json"
    with open(crf, "wb") as fh:
        fh.truncate(300 << 20)  # sparse: 300 MB that cost nothing to make
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "o.exr"), "--crf", str(crf)])
    one_line_error(r, 1, "too large for a response file")
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "o.exr"), "--crf",
                            str(tmp_path / "s") + "/x.json"])
    one_line_error(r, 2, "no such response file")
    (tmp_path / "dir.json").mkdir()
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "o.exr"), "--crf",
                            str(tmp_path / "dir.json")])
    one_line_error(r, 2, "is a folder")


def test_calibrate_leaves_moving_pixels_out_and_reports_its_fit(tmp_path):
    from test_calibration import filmic_response

    from selfhdr_cli.evaluation.synth import MovingObject, SensorConfig, render_bracket, soft_ellipse

    truth = filmic_response()
    canvas = procedural_radiance(240, 320, 1) * 0.8
    objects = [MovingObject(procedural_radiance(90, 90, 11 + k)[:, :, ::-1].copy() * (0.3 + 0.4 * k),
                            soft_ellipse(90, 90), [(x - 40, y), (x, y + 20), (x + 40, y - 20)])
               for k, (x, y) in enumerate([(30, 40), (100, 70), (170, 100), (240, 130)])]
    frames, _, _ = render_bracket(canvas, (240, 320), objects, [0.0, 2.0, 4.0], 1,
                                  SensorConfig(response=truth, bits=8), np.random.default_rng(1))
    paths = write_bracket(tmp_path / "s", frames, bits=8, names=("a.png", "b.png", "c.png"), exposure_txt=False)
    out = tmp_path / "camera.json"
    r = runner.invoke(app, ["calibrate", *map(str, paths), "--ev", "0,2,4", "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["rejected_share"] > 0.1 and "residual_stops" in record  # the moving objects were left out
    fitted = json.loads(out.read_text())["curves"]["g"]
    levels = np.linspace(0, 1, len(fitted))
    true = np.interp(levels, np.linspace(0, 1, len(truth.curves[1])), truth.curves[1])
    inside = (levels > 0.05) & (levels < 0.95)
    error = np.log2(np.asarray(fitted)[inside]) - np.log2(true[inside])
    assert np.sqrt(np.mean((error - np.median(error)) ** 2)) < 0.25  # 0.41 stops before moving pixels were left out


# ---- training outputs -------------------------------------------------------------------------

def test_train_init_refuses_to_write_over_its_inputs_and_to_resume_nothing(tmp_path):
    init = Path(__file__).resolve().parent / "data" / "two_stage" / "selfhdr-fastnet.safetensors"  # stage 1 beside it
    weights = tmp_path / "w"
    weights.mkdir()
    for name in (init.name, init.with_name(f"{init.stem}-structure.safetensors").name):
        (weights / name).write_bytes((init.parent / name).read_bytes())
    data = tmp_path / "data"
    data.mkdir()
    companion = weights / f"{init.stem}-structure.safetensors"
    r = runner.invoke(app, ["train", str(data), "--init", str(weights / init.name), "-o", str(companion), "--force"])
    one_line_error(r, 2, "stage-1 weights")
    r = runner.invoke(app, ["train", str(data), "--init", "default", "--resume"])
    one_line_error(r, 2, "nothing to resume")


def test_a_full_disk_while_saving_weights_or_a_checkpoint_is_one_line(tmp_path, monkeypatch):
    import torch

    from selfhdr_cli.errors import SelfHDRError
    from selfhdr_cli.nets import build_network
    from selfhdr_cli.nets.weights import save_weights
    from selfhdr_cli.training import loop

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0\nmore internals")

    monkeypatch.setattr(torch, "save", full)
    net = build_network("fastnet")
    optimizer = torch.optim.Adam(net.parameters())
    with pytest.raises(SelfHDRError, match="cannot write") as caught:
        loop.save_checkpoint(tmp_path / "a.ckpt", net, optimizer, 1, "structure", loop.preset_config("tiny"), [])
    assert "\n" not in str(caught.value)

    import safetensors.torch

    from selfhdr_cli.nets import weights as weights_module

    def full_safetensors(*args, **kwargs):
        raise safetensors.SafetensorError("Error while serializing: IoError(No space left on device)")

    monkeypatch.setattr(weights_module, "save_file", full_safetensors)
    with pytest.raises(SelfHDRError, match="cannot write"):
        save_weights(tmp_path / "w.safetensors", net, "fastnet")
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_an_error_escaping_a_command_is_still_one_line(monkeypatch, capsys):
    from selfhdr_cli import cli
    from selfhdr_cli.errors import InputFileError

    def boom(*args, **kwargs):
        raise InputFileError("something the command forgot to catch", "x.tif")

    monkeypatch.setattr(cli, "app", boom)
    monkeypatch.setattr(sys, "argv", ["selfhdr", "merge"])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    assert stop.value.code == 1
    assert capsys.readouterr().err.strip() == "selfhdr: error: x.tif: something the command forgot to catch"


# ---- messages -------------------------------------------------------------------------------

def test_a_file_name_with_a_newline_stays_on_one_line(tmp_path, small):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames)
    odd = tmp_path / "s" / "b\nc.tif"
    paths[1].rename(odd)
    odd.write_bytes(b"II*\x00 broken")
    r = runner.invoke(app, ["merge", "-m", "color", str(paths[0]), str(odd), str(paths[2]), "--ev", "0,2,4",
                            "-o", str(tmp_path / "o.exr")])
    one_line_error(r, 1, "'")


def test_a_small_pixel_cap_is_said_in_pixels(tmp_path, small, monkeypatch):
    frames, _ = small
    paths = write_bracket(tmp_path / "s", frames)
    monkeypatch.setenv("SELFHDR_MAX_PIXELS", "100")
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "o.exr")])
    one_line_error(r, 1, "100 pixels cap")


def test_batch_options_are_checked_up_front(tmp_path, small):
    frames, _ = small
    flat = tmp_path / "flat"
    write_bracket(flat, frames, exposure_txt=False, names=("x1.tif", "x2.tif", "x3.tif"))
    for extra, words in ((["--time-gap", "nan"], "--time-gap"), (["--time-gap", "-5"], "--time-gap"),
                         (["--time-gap", "2", "--group-size", "3"], "not both")):
        r = runner.invoke(app, ["merge", "--batch", str(flat), "-o", str(tmp_path / "out"), *extra])
        one_line_error(r, 2, words)
    r = runner.invoke(app, ["merge", "--batch", str(flat / "x1.tif"), "-o", str(tmp_path / "out")])
    one_line_error(r, 2, "this is a file")


def test_a_truncated_exr_prints_nothing_but_the_error(tmp_path):
    """OpenEXR writes its own lines, on stdout too: a damaged file must give one line and nothing on stdout."""
    from selfhdr_cli.io.hdrfile import write_hdr_image

    image = procedural_radiance(200, 300, 3)
    write_hdr_image(tmp_path / "s0.exr", image)
    data = (tmp_path / "s0.exr").read_bytes()
    (tmp_path / "s0.exr").write_bytes(data[: len(data) * 6 // 10])
    proc = subprocess.run([sys.executable, "-m", "selfhdr_cli", "tonemap", str(tmp_path / "s0.exr"),
                           str(tmp_path / "t.png")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "300"})
    assert proc.returncode == 1 and proc.stdout == "", proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "s0.exr" in lines[0] and "corrupt or unreadable HDR image" in lines[0], proc.stderr


def test_an_absurd_exif_exposure_names_its_frame(tmp_path, small):
    from PIL import Image, TiffImagePlugin

    frames, _ = small
    paths = []
    for k, (frame, (num, den)) in enumerate(zip(frames, [(1, 250), (4_000_000_000, 1), (1, 15)])):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x829A] = TiffImagePlugin.IFDRational(num, den)
        path = tmp_path / f"f{k}.jpg"
        Image.fromarray((frame * 255).astype(np.uint8)).save(path, exif=exif, quality=95)
        paths.append(path)
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "o.exr")])
    one_line_error(r, 2, "f1.jpg", "not an exposure time")


def test_synth_takes_a_calibrated_response(tmp_path):
    from conftest import SHARED

    if not (SHARED / "data" / "hdr").is_dir():
        pytest.skip("needs ../shared/data/hdr (radiance maps)")
    crf = tmp_path / "camera.json"
    levels = np.linspace(0, 1, 256)
    crf.write_text(json.dumps({"curves": {"r": list(levels ** 2.0), "g": list(levels ** 2.2), "b": list(levels ** 2.4)}}))
    r = runner.invoke(app, ["synth", str(SHARED / "data" / "hdr"), str(tmp_path / "syn"), "--scenes", "1",
                            "--size", "96x64", "--crf", str(crf)])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "syn").glob("*/frame_*.tif"))) == 3


def test_weights_of_another_architecture_and_a_corrupt_checkpoint_are_said_plainly(tmp_path):
    import json as json_module

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from selfhdr_cli.errors import InputFileError
    from selfhdr_cli.nets.weights import default_weights, load_weights
    from selfhdr_cli.training.loop import load_checkpoint

    with safe_open(default_weights(), framework="pt") as f:
        meta = dict(f.metadata())
    meta["config"] = json_module.dumps({"width": 32, "wings": 2})
    odd = tmp_path / "odd.safetensors"
    save_file(load_file(default_weights()), str(odd), metadata=meta)
    with pytest.raises(InputFileError) as caught:
        load_weights(odd)
    assert "cannot build" in str(caught.value) and "__init__" not in str(caught.value)
    bad = tmp_path / "structure.ckpt"
    bad.write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(InputFileError) as caught:
        load_checkpoint(bad)
    assert "not a usable checkpoint" in str(caught.value) and "weights_only" not in str(caught.value)


def test_a_corrupt_hdr_file_is_one_line_without_opencvs_own(tmp_path):
    (tmp_path / "bad.hdr").write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 10 +X 10\n" + b"\x02\x02" * 7)
    proc = subprocess.run([sys.executable, "-m", "selfhdr_cli", "tonemap", str(tmp_path / "bad.hdr"),
                           str(tmp_path / "t.png")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "300"})
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("selfhdr: error:") and "bad.hdr" in lines[0], proc.stderr


def test_training_errors_start_with_the_error_not_a_blank_line(tmp_path):
    data = tmp_path / "data"
    (data / "s0").mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    (work / "structure.ckpt").write_bytes(b"garbage")
    proc = subprocess.run([sys.executable, "-m", "selfhdr_cli", "train", str(data), "--work", str(work), "--preset",
                           "tiny", "--resume"], capture_output=True, text=True, timeout=300)
    assert proc.returncode in (1, 2)
    assert proc.stderr.startswith("selfhdr: error:"), repr(proc.stderr[:200])
