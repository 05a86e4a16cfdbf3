"""Camera RAW brackets through LibRaw: DNGs written here from a known radiance map."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from conftest import procedural_radiance
from selfhdr_cli.cli import app
from selfhdr_cli.evaluation.metrics import score_hdr
from selfhdr_cli.io.hdrfile import read_hdr_image

runner = CliRunner()
BLACK, WHITE = 512, 16383
XYZ_TO_SRGB = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])


def write_dng(path, linear_rgb, exposure_s, rng, iso=None, camera=None, neutral=(1.0, 1.0, 1.0)):
    """A 14-bit RGGB DNG whose camera RGB is linear sRGB (ColorMatrix1 = XYZ→sRGB), values relative
    to the white level, with shot and read noise and ExposureTime in IFD0.

    ``camera`` (3×3, rows summing to 1): the sensor sees ``camera @ rgb`` instead (ColorMatrix1 =
    camera @ XYZ→sRGB); ``neutral``: its AsShotNeutral, the raw values of a grey, so the sensor
    records ``neutral * (camera @ rgb)`` and the camera's white balance divides ``neutral`` out."""
    h, w, _ = linear_rgb.shape
    camera = np.eye(3) if camera is None else np.asarray(camera, float)
    linear_rgb = (linear_rgb @ camera.T) * np.asarray(neutral, float)
    mosaic = np.empty((h, w))
    mosaic[0::2, 0::2] = linear_rgb[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = linear_rgb[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = linear_rgb[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = linear_rgb[1::2, 1::2, 2]
    electrons = np.clip(mosaic, 0, None) * (WHITE - BLACK)
    noisy = rng.poisson(electrons / 4) * 4 + rng.normal(0, 3, electrons.shape)  # gain 4, read noise 3 DN
    data = np.clip(BLACK + noisy, 0, WHITE).astype(np.uint16)
    matrix = [v for x in (camera @ XYZ_TO_SRGB).ravel() for v in (int(round(x * 10000)), 10000)]
    as_shot = [v for x in neutral for v in (int(round(x * 10000)), 10000)]
    num, den = (1, round(1 / exposure_s)) if exposure_s < 1 else (round(exposure_s), 1)
    tags = [(50706, "B", 4, (1, 4, 0, 0), True), (50707, "B", 4, (1, 1, 0, 0), True),
            (50708, "s", 0, "selfhdr test camera", True), (33421, "H", 2, (2, 2), True),
            (33422, "B", 4, (0, 1, 1, 2), True), (50714, "H", 1, (BLACK,), True), (50717, "H", 1, (WHITE,), True),
            (50721, "2i", 9, tuple(matrix), True), (50778, "H", 1, (21,), True),
            (50728, "2I", 3, tuple(as_shot), True), (33434, "2I", 1, (num, den), True)]
    if iso is not None:
        tags.append((34855, "H", 1, (iso,), True))
    tifffile.imwrite(path, data, photometric=32803, extratags=tags)
    return path


@pytest.fixture(scope="module")
def raw_bracket(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dng")
    radiance = procedural_radiance(128, 192, 11)
    radiance *= 0.95 / radiance.max()  # the shortest frame just below white: every value is measured
    rng = np.random.default_rng(3)
    times = [1 / 250, 1 / 60, 1 / 15]
    paths = [write_dng(folder / f"IMG_{k}.dng", radiance * (t / times[0]), t, rng) for k, t in enumerate(times)]
    return paths, radiance  # ground truth in short-exposure units: the shortest frame's linear value


def test_a_dng_bracket_merges_with_nothing_but_the_file_names(tmp_path, raw_bracket):
    paths, radiance = raw_bracket
    out = tmp_path / "out.exr"
    r = runner.invoke(app, ["merge", *map(str, paths), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["exposure_source"] == "EXIF ExposureTime"
    np.testing.assert_allclose(summary["exposure_times"], [1 / 250, 1 / 60, 1 / 15], rtol=1e-6)
    score = score_hdr(read_hdr_image(out), radiance)
    assert score.psnr_mu > 38, score  # the border pixels of the demosaic and the noise cost the rest
    colour = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "c.exr")])
    assert colour.exit_code == 0
    assert score_hdr(read_hdr_image(tmp_path / "c.exr"), radiance).psnr_mu > 38


def test_raw_options_and_refusals(tmp_path, raw_bracket):
    paths, radiance = raw_bracket
    camera = tmp_path / "cam.exr"
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(camera), "--raw-space", "camera",
                            "--wb", "none"])
    assert r.exit_code == 0, r.output
    assert score_hdr(read_hdr_image(camera), radiance).psnr_mu > 35
    r = runner.invoke(app, ["merge", *map(str, paths), "-o", str(tmp_path / "x.exr"), "--crf", "srgb"])
    assert r.exit_code == 2 and "RAW frames are developed linearly" in r.stderr
    tif = tmp_path / "f.tif"
    tifffile.imwrite(tif, np.zeros((128, 192, 3), np.uint16), photometric="rgb")
    r = runner.invoke(app, ["merge", str(paths[0]), str(tif), "-o", str(tmp_path / "y.exr")])
    assert r.exit_code == 2 and "cannot mix" in r.stderr
    broken = tmp_path / "broken.dng"
    broken.write_bytes(paths[0].read_bytes()[:300])
    r = runner.invoke(app, ["merge", str(broken), *map(str, paths[1:]), "-o", str(tmp_path / "z.exr")])
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1 and "broken.dng" in r.stderr
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "w.exr"), "--wb", "auto"])
    assert r.exit_code == 2 and "--wb" in r.stderr


def test_raw_encoding_is_the_default_response():
    from selfhdr_cli.io.raw import RAW_GAMMA
    from selfhdr_cli.radiometry.response import CameraResponse

    assert CameraResponse("gamma") == CameraResponse(kind="gamma", gamma=RAW_GAMMA)


def test_iso_is_folded_into_the_exposure(tmp_path):
    from selfhdr_cli.io.exposure import resolve_exposures

    radiance = procedural_radiance(32, 48, 2) * 0.2
    rng = np.random.default_rng(0)
    # the same shutter at ISO 100, 400, 1600: two stops apart, by gain
    paths = [write_dng(tmp_path / f"{k}.dng", radiance * 4 ** k, 1 / 60, rng, iso=100 * 4 ** k) for k in range(3)]
    info = resolve_exposures(paths)
    assert "ISO" in info.source
    np.testing.assert_allclose(np.log2(info.times / info.times[0]), [0, 2, 4], atol=1e-9)


CAMERA = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.05, 0.25, 0.7]])  # the sensor's RGB mixes sRGB's
NEUTRAL = (0.5, 1.0, 0.7)  # a grey gives raw R half of G: an as-shot white balance far from neutral
GREY, ORANGE = np.array([0.3, 0.3, 0.3]), np.array([0.4, 0.2, 0.1])


@pytest.fixture(scope="module")
def tinted_bracket(tmp_path_factory):
    """A grey left half and an orange right half (textured in brightness), shot by a camera whose RGB
    is not sRGB and whose as-shot white balance is not neutral."""
    folder = tmp_path_factory.mktemp("tinted")
    h, w = 96, 128
    yy, xx = np.mgrid[0:h, 0:w]
    shade = (1 + 0.3 * np.sin(xx / 5.0) * np.sin(yy / 7.0))[..., None]
    rgb = np.where((xx < w // 2)[..., None], GREY, ORANGE) * shade / 1.3 * 0.9
    rng = np.random.default_rng(5)
    times = [1 / 250, 1 / 125, 1 / 60]
    rgb *= 2.0  # the longest frame's brightest orange at 0.72 of white
    return [write_dng(folder / f"T_{k}.dng", rgb * (t / times[-1]), t, rng, camera=CAMERA, neutral=NEUTRAL)
            for k, t in enumerate(times)]


def _patches(path):
    image = read_hdr_image(path)
    h, w, _ = image.shape
    grey = image[16:h - 16, 16:w // 2 - 16].reshape(-1, 3).mean(0)
    orange = image[16:h - 16, w // 2 + 16:w - 16].reshape(-1, 3).mean(0)
    return grey / grey[1], orange / orange[1]  # chromaticity: each relative to its green


@pytest.mark.parametrize("how", ["merge", "read_raw"])
def test_white_balance_and_raw_space_are_applied(tmp_path, tinted_bracket, how):
    """--wb camera makes the grey grey and --wb none leaves the sensor's tint; --raw-space srgb gives
    the scene's colours back and --raw-space camera the sensor's own mix of them."""
    from selfhdr_cli.io.raw import RawOptions, read_raw
    from selfhdr_cli.io.hdrfile import write_hdr_image

    results = {}
    for wb, space in (("camera", "srgb"), ("none", "srgb"), ("camera", "camera"), ("none", "camera")):
        out = tmp_path / f"{wb}-{space}.exr"
        if how == "merge":
            r = runner.invoke(app, ["merge", "-m", "color", *map(str, tinted_bracket), "-o", str(out), "--wb", wb,
                                    "--raw-space", space])
            assert r.exit_code == 0, r.output
        else:
            write_hdr_image(out, read_raw(tinted_bracket[0], RawOptions(wb, space, 1.0)))
        results[wb, space] = _patches(out)
    grey, orange = results["camera", "srgb"]
    np.testing.assert_allclose(grey, [1, 1, 1], atol=0.03)
    np.testing.assert_allclose(orange, ORANGE / ORANGE[1], rtol=0.05)
    tinted_grey, _ = results["none", "srgb"]
    assert abs(tinted_grey[0] - 1) > 0.3 and abs(tinted_grey[2] - 1) > 0.2, tinted_grey  # the as-shot tint stays
    cam_grey, cam_orange = results["camera", "camera"]
    mixed = CAMERA @ ORANGE
    np.testing.assert_allclose(cam_grey, [1, 1, 1], atol=0.03)  # the camera's RGB keeps grey grey (rows sum to 1)
    np.testing.assert_allclose(cam_orange, mixed / mixed[1], rtol=0.05)  # but mixes the orange
    assert abs(cam_orange[2] - orange[2]) > 0.15, (cam_orange, orange)
    raw_grey, _ = results["none", "camera"]
    np.testing.assert_allclose(raw_grey, np.asarray(NEUTRAL) / NEUTRAL[1], rtol=0.05)  # the sensor's raw values


def test_noisy_static_dng_bracket_default_beats_the_hat_weighted_merge(tmp_path):
    """A static 14-bit RGGB bracket (black 512, Poisson-Gaussian noise, 1/400, 1/100, 1/25 s): the
    default merge averages every frame by its SNR, where the hat weights throw away the short
    frame's light; scored after one global scale (a RAW's radiometric scale is the developer's)."""
    from conftest import bracket_settings
    from selfhdr_cli.merge.bracket import load_bracket
    from selfhdr_cli.merge.method import MergeConfig, merge_bracket

    radiance = procedural_radiance(192, 256, 5)
    radiance *= 0.95 / radiance.max()
    rng = np.random.default_rng(4)
    times = [1 / 400, 1 / 100, 1 / 25]
    paths = [write_dng(tmp_path / f"D_{k}.dng", radiance * (t / times[0]), t, rng) for k, t in enumerate(times)]
    settings = bracket_settings(fit_response=True)  # merge's default (RAW frames are not fitted)
    bracket = load_bracket(paths, settings)
    assert bracket.response is None

    def scaled_psnr_mu(hdr):
        ok = (radiance > 1e-3) & (radiance < 0.9)
        scale = float(np.exp(np.median(np.log(np.maximum(hdr[ok], 1e-8) / radiance[ok]))))
        return score_hdr(hdr / scale, radiance).psnr_mu

    default = scaled_psnr_mu(merge_bracket(bracket, MergeConfig(method="color", bracket=settings)))
    hat = scaled_psnr_mu(merge_bracket(bracket, MergeConfig(method="debevec", bracket=settings)))
    assert default >= hat + 0.3, (default, hat)
