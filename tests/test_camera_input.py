"""Brackets as cameras write them: compressed TIFFs, exposures from pixels or a file,
float TIFF output, cluster shards, default output names."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from conftest import quantise, write_bracket
from selfhdr_cli.cli import app
from selfhdr_cli.io.frames import read_ldr
from selfhdr_cli.io.hdrfile import read_hdr_image

runner = CliRunner()


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("compression", ["lzw", "zlib", "jpeg", "opencv"])
def test_compressed_tiffs_decode(tmp_path, moving_scene, bits, compression):
    if compression == "jpeg" and bits == 16:
        pytest.skip("JPEG-in-TIFF is 8-bit")
    frame = moving_scene[0][1]
    data = quantise(frame, bits)
    path = tmp_path / "f.tif"
    if compression == "opencv":  # LZW, OpenCV's default, as raw converters export
        cv2.imwrite(str(path), np.ascontiguousarray(data[:, :, ::-1]))
    else:
        tifffile.imwrite(path, data, photometric="rgb", compression=compression)
    tolerance = 0.05 if compression == "jpeg" else 1e-6
    assert np.abs(read_ldr(path) - data / (2 ** bits - 1)).mean() < tolerance


def test_a_valid_tiff_with_an_unsupported_feature_is_not_called_corrupt(tmp_path, monkeypatch):
    from selfhdr_cli.errors import InputFileError
    from selfhdr_cli.io import frames

    path = tmp_path / "f.tif"
    tifffile.imwrite(path, np.zeros((32, 32, 3), np.uint8), photometric="rgb", compression="zlib")

    def no_codec(self, *args, **kwargs):
        raise ValueError("<COMPRESSION.ADOBE_DEFLATE: 8> requires the 'imagecodecs' package")

    monkeypatch.setattr(frames.tifffile.TiffPage, "asarray", no_codec)
    monkeypatch.setattr(frames.imagecodecs, "tiff_decode", no_codec)
    with pytest.raises(InputFileError, match="valid TIFF, but it uses a feature") as info:
        read_ldr(path)
    assert "corrupt" not in str(info.value)


def test_exposures_estimated_when_no_source_has_them(tmp_path):
    from selfhdr_cli.evaluation.synth import SensorConfig, render_bracket
    from conftest import procedural_radiance

    canvas = procedural_radiance(120, 160, 5) * 0.3
    for step in (2, 3):
        frames, gt, _ = render_bracket(canvas, (120, 160), [], [0, step, 2 * step], 1, SensorConfig(),
                                       np.random.default_rng(step))
        paths = write_bracket(tmp_path / f"s{step}", frames, exposure_txt=False)
        out = tmp_path / f"o{step}.exr"
        r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(out), "--json"])
        assert r.exit_code == 0, r.output
        summary = json.loads(r.stdout)
        assert summary["exposure_source"] == "estimated"
        np.testing.assert_allclose(np.log2(summary["exposure_times"]), [0, step, 2 * step], atol=0.1)
        assert "exposures estimated from the pixels" in r.stderr
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "--exposures", "auto",
                            "-o", str(tmp_path / "auto.exr")])
    assert r.exit_code == 0, r.output


def test_night_scene_with_little_overlap_is_estimated_or_refused_in_one_line(tmp_path):
    from selfhdr_cli.evaluation.synth import SensorConfig, render_bracket
    from conftest import procedural_radiance

    canvas = procedural_radiance(120, 160, 6) ** 3 * 0.02  # mostly black, a few lights
    frames, _, _ = render_bracket(canvas, (120, 160), [], [0, 2, 4], 1, SensorConfig(), np.random.default_rng(0))
    paths = write_bracket(tmp_path / "night", frames, exposure_txt=False)
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "n.exr"), "--json"])
    if r.exit_code == 0:
        np.testing.assert_allclose(np.log2(json.loads(r.stdout)["exposure_times"]), [0, 2, 4], atol=0.2)
    else:
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "cannot be estimated" in r.stderr


@pytest.mark.parametrize("half", [False, True])
def test_float_tiff_output(tmp_path, bracket_files, half):
    out = tmp_path / "o.tif"
    args = ["merge", "-m", "color", *map(str, bracket_files), "-o", str(out)] + (["--half"] if half else [])
    assert runner.invoke(app, args).exit_code == 0
    data = tifffile.imread(out)
    assert data.dtype == (np.float16 if half else np.float32) and data.shape[-1] == 3
    exr = tmp_path / "o.exr"
    assert runner.invoke(app, ["merge", "-m", "color", *map(str, bracket_files), "-o", str(exr)]).exit_code == 0
    np.testing.assert_allclose(read_hdr_image(out), read_hdr_image(exr), rtol=1e-3 if half else 0, atol=1e-4)
    if not half:  # OpenCV 5 reads float32 TIFF (not float16)
        np.testing.assert_array_equal(cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[:, :, ::-1], data)


def test_default_output_beside_the_frames(tmp_path, moving_scene):
    paths = write_bracket(tmp_path / "s", moving_scene[0], names=("img_1.tif", "img_2.tif", "img_3.tif"))
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "s" / "img.exr").is_file() and "img.exr" in r.stderr
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths)])
    assert r.exit_code == 2 and "already exists" in r.stderr
    other = write_bracket(tmp_path / "t", moving_scene[0], names=("a_dark.tif", "b_mid.tif", "c_light.tif"))
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, other)])
    assert r.exit_code == 0 and (tmp_path / "t" / "b_mid.exr").is_file()  # no common prefix: the reference's name


def test_shards_are_disjoint_and_cover_the_shoot(tmp_path, moving_scene):
    small = [f[:64, :96] for f in moving_scene[0]]
    shoot = tmp_path / "shoot"
    for k in range(7):
        write_bracket(shoot / f"b{k}", small)
    names = []
    for k in range(3):
        r = runner.invoke(app, ["merge", "-m", "color", "--batch", str(shoot), "-o", str(tmp_path / "out"),
                                "--shard", f"{k}/3", "--json"])
        assert r.exit_code == 0, r.output
        summary = json.loads(r.stdout)
        assert summary["shard"] == f"{k}/3" and summary["skipped"] == 0
        names += [b["name"] for b in summary["brackets"]]
    assert sorted(names) == [f"b{k}" for k in range(7)]  # disjoint and complete
    for bad in ("3/3", "x", "1/0"):
        r = runner.invoke(app, ["merge", "--batch", str(shoot), "-o", str(tmp_path / "o2"), "--shard", bad])
        assert r.exit_code == 2 and "--shard" in r.stderr


@pytest.mark.parametrize("photometric, needle", [("palette", "palette"), ("separated", "CMYK")])
def test_tiff_colour_models_that_are_not_light_are_refused(tmp_path, photometric, needle):
    from selfhdr_cli.errors import InputFileError

    path = tmp_path / "f.tif"
    if photometric == "palette":
        tifffile.imwrite(path, np.zeros((32, 32), np.uint8), photometric="palette",
                         colormap=np.zeros((3, 256), np.uint16))
    else:
        tifffile.imwrite(path, np.zeros((32, 32, 4), np.uint8), photometric="separated")
    with pytest.raises(InputFileError, match=needle):
        read_ldr(path)
