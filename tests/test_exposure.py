"""Exposure metadata: flags, exposure.txt, EXIF, priority and validation."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image, TiffImagePlugin

from selfhdr_cli.errors import InputFileError, UsageError
from selfhdr_cli.io.exposure import exif_exposure_time, parse_ev, parse_exposure_times, resolve_exposures


def jpeg_with_exposure(path, num, den):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x829A] = TiffImagePlugin.IFDRational(num, den)
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(path, exif=exif)
    return path


def test_parse_flags():
    assert parse_exposure_times("1/60, 1/15,0.25") == pytest.approx([1 / 60, 1 / 15, 0.25])
    assert parse_ev("-2,0,2.5") == [-2.0, 0.0, 2.5]
    for bad in ("1/0,1", "a,b", "1,,2", "0,1"):
        with pytest.raises(UsageError):
            parse_exposure_times(bad)


def test_exif_from_jpeg_and_tiff(tmp_path):
    assert exif_exposure_time(jpeg_with_exposure(tmp_path / "a.jpg", 1, 250)) == pytest.approx(0.004)
    tif = tmp_path / "a.tif"
    tifffile.imwrite(tif, np.zeros((8, 8, 3), np.uint16), photometric="rgb",
                     extratags=[(33434, 5, 1, (1, 60), True)])  # ExposureTime in IFD0
    assert exif_exposure_time(tif) == pytest.approx(1 / 60)
    plain = tmp_path / "b.tif"
    tifffile.imwrite(plain, np.zeros((8, 8, 3), np.uint8), photometric="rgb")
    assert exif_exposure_time(plain) is None


def test_priority_flags_over_txt_over_exif(tmp_path):
    paths = [jpeg_with_exposure(tmp_path / f"{n}.jpg", 1, d) for n, d in (("a", 250), ("b", 60), ("c", 15))]
    info = resolve_exposures(paths)
    assert info.source == "EXIF ExposureTime" and info.absolute
    np.testing.assert_allclose(info.times, [1 / 250, 1 / 60, 1 / 15])
    (tmp_path / "exposure.txt").write_text("0\n2\n4\n")
    info = resolve_exposures(paths)
    assert info.source.endswith("exposure.txt") and not info.absolute
    np.testing.assert_allclose(info.times, [1, 4, 16])
    info = resolve_exposures(paths, ev="1,2,3")
    assert info.source == "--ev"
    info = resolve_exposures(paths, exposures="1,2,3")
    assert info.source == "--exposures" and info.absolute


def test_exposure_txt_maps_by_file_name_for_a_subset(tmp_path):
    paths = [tmp_path / f"{k}.tif" for k in range(1, 6)]
    for p in paths:
        tifffile.imwrite(p, np.zeros((4, 4, 3), np.uint8), photometric="rgb")
    (tmp_path / "exposure.txt").write_text("-2\n-1\n0\n1\n2\n")
    info = resolve_exposures([paths[4], paths[0], paths[2]])  # 5.tif, 1.tif, 3.tif
    np.testing.assert_allclose(np.log2(info.times), [2, -2, 0])


def test_duplicates_name_both_files(tmp_path):
    paths = [jpeg_with_exposure(tmp_path / f"{n}.jpg", 1, 20) for n in "ab"]
    with pytest.raises(UsageError, match="a.jpg and b.jpg have the same exposure"):
        resolve_exposures(paths)


def test_estimated_exposures_recover_known_ratios():
    from selfhdr_cli.radiometry.exposure_ratio import estimate_exposures
    from selfhdr_cli.radiometry.response import CameraResponse

    g = CameraResponse("gamma")
    radiance = (10 ** np.random.default_rng(0).uniform(-3.5, -0.5, (60, 80, 1))).astype(np.float32) * [1, 0.9, 0.8]
    frames = [g.from_linear(np.clip(radiance * t, 0, 1)) for t in (4.0, 1.0, 16.0)]  # any order
    times = estimate_exposures(frames, g)
    np.testing.assert_allclose(times / times.min(), [4, 1, 16], rtol=0.02)
    three_stops = [g.from_linear(np.clip(radiance * t, 0, 1)) for t in (1.0, 8.0, 64.0)]
    np.testing.assert_allclose(np.log2(estimate_exposures(three_stops, g)), [0, 3, 6], atol=0.05)


def test_estimated_exposures_say_how_sure_they_are():
    from selfhdr_cli.radiometry.exposure_ratio import MAX_STEP_STOPS, estimate_exposures_and_cautions
    from selfhdr_cli.radiometry.response import CameraResponse

    g = CameraResponse("gamma")
    radiance = (10 ** np.random.default_rng(0).uniform(-4, 0, (60, 80, 1))).astype(np.float32) * [1, 0.9, 0.8]
    usual = estimate_exposures_and_cautions([g.from_linear(np.clip(radiance * t, 0, 1)) for t in (1, 4)], g)
    assert usual.cautions == [] and usual.spreads[1] < 0.05  # one camera, one curve: every value agrees
    wide = estimate_exposures_and_cautions([g.from_linear(np.clip(radiance * t, 0, 1)) for t in (1, 32)], g)
    assert np.log2(wide.times[1]) > MAX_STEP_STOPS
    assert [c.text.split(",")[0] for c in wide.cautions] == ["a step of +5.00 EV"]
    # through an S-shaped camera curve (not a power law, which would scale every ratio alike), the values
    # disagree on the step: the spread says so

    def s_curve(linear):
        y = np.clip(linear, 0, 1) ** (1 / 2.2)
        return (y ** 1.5 / (y ** 1.5 + (1 - y) ** 1.5)).astype(np.float32)

    other = estimate_exposures_and_cautions([s_curve(radiance * t) for t in (1, 4)], g)
    assert other.spreads[1] > 0.1 > usual.spreads[1] * 5


def test_doubtful_estimate_is_a_warning_from_the_cli(tmp_path):
    from conftest import write_bracket
    from selfhdr_cli.cli import app
    from selfhdr_cli.radiometry.response import CameraResponse
    from typer.testing import CliRunner

    g = CameraResponse("gamma")
    radiance = (10 ** np.random.default_rng(1).uniform(-4.5, 0, (64, 96, 1))).astype(np.float32) * [1, 0.9, 0.8]
    frames = [g.from_linear(np.clip(radiance * t, 0, 1)) for t in (1, 32)]
    paths = write_bracket(tmp_path / "b", frames, exposure_txt=False, names=("a.tif", "b.tif"))
    r = CliRunner().invoke(app, ["info", *map(str, paths)])
    assert r.exit_code == 0, r.output
    assert "warning: the estimated exposures are doubtful (a.tif → b.tif: a step of +5.00 EV" in r.stderr


def test_exposure_file_in_order_or_by_name(tmp_path):
    paths = [tmp_path / f"{n}.tif" for n in "abc"]
    for p in paths:
        tifffile.imwrite(p, np.zeros((4, 4, 3), np.uint8), photometric="rgb")
    plain = tmp_path / "times.txt"
    plain.write_text("# seconds\n1/60\n1/15\n0.25\n")
    info = resolve_exposures(paths, exposures=str(plain))
    np.testing.assert_allclose(info.times, [1 / 60, 1 / 15, 0.25])
    assert info.absolute and info.source == str(plain)
    named = tmp_path / "named.txt"
    named.write_text("c.tif 1/4\na.tif 1/60\nb.tif 1/15\n")
    np.testing.assert_allclose(resolve_exposures(paths, exposures=str(named)).times, [1 / 60, 1 / 15, 0.25])
    named.write_text("a.tif 1/60\nb.tif 1/15\n")
    with pytest.raises(InputFileError, match="no time for c.tif"):  # the file is at fault: exit 1, naming it
        resolve_exposures(paths, exposures=str(named))
    named.write_text("\ufeffa.tif 1/60\nb.tif 1/15\nc.tif 1/4\nb.tif 1/8\n")  # a BOM, and b twice
    with pytest.raises(InputFileError, match="b.tif is listed twice"):
        resolve_exposures(paths, exposures=str(named))
    plain.write_text("1/60\n1/15\n")
    with pytest.raises(InputFileError, match="2 times for 3 frames"):
        resolve_exposures(paths, exposures=str(plain))
    with pytest.raises(UsageError, match="no such exposure file"):
        resolve_exposures(paths, exposures=str(tmp_path / "nope.txt"))
    with pytest.raises(UsageError, match="not an exposure time"):
        resolve_exposures(paths, exposures="1e300,4e300,1.6e301")
    assert resolve_exposures(paths, exposures="auto") is None


def test_exposure_txt_beside_symlinked_frames(tmp_path):
    """A scene of links to frames elsewhere uses the exposure.txt beside the links."""
    src = tmp_path / "src"
    src.mkdir()
    for k in range(3):
        tifffile.imwrite(src / f"{k}.tif", np.zeros((4, 4, 3), np.uint8), photometric="rgb")
    scene = tmp_path / "scene"
    scene.mkdir()
    for k in range(3):
        (scene / f"{k}.tif").symlink_to(src / f"{k}.tif")
    (scene / "exposure.txt").write_text("-1\n0\n1\n")
    info = resolve_exposures([scene / f"{k}.tif" for k in range(3)])
    np.testing.assert_allclose(np.log2(info.times), [-1, 0, 1])


def _blue_green_bracket(folder, h=96, w=128):
    """Three frames two stops apart of a scene with no red at all (foliage under a blue sky): the red
    channel is black in every frame; green and blue are textured and well exposed."""
    from conftest import write_bracket
    from selfhdr_cli.radiometry.response import CameraResponse

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.01 * np.exp2(2.5 * xx / w) * (1 + 0.4 * np.sin(xx / 4.0) * np.sin(yy / 6.0))
    radiance = np.stack([np.zeros_like(base), base, 0.7 * base * (1 + 0.3 * np.cos(yy / 9.0))], -1)
    g = CameraResponse("gamma")
    frames = [g.from_linear(np.clip(radiance * t, 0, 1)).astype(np.float32) for t in (1.0, 4.0, 16.0)]
    return write_bracket(folder, frames, exposure_txt=False)


def test_reversed_exposures_are_refused_when_only_green_and_blue_are_measured(tmp_path, monkeypatch):
    """The check samples whole pixels (all three channels): a bracket whose red channel is black is
    still judged on green and blue, so exposures given the wrong way round are refused, also when
    the pixels are sampled (MAX_SAMPLES lowered so that this small image takes the sampling path)."""
    from typer.testing import CliRunner

    import selfhdr_cli.radiometry.exposure_ratio as ratio
    from selfhdr_cli.cli import app

    paths = _blue_green_bracket(tmp_path / "s")
    runner = CliRunner()
    for at_most in (ratio.MAX_SAMPLES, 3 * 4000):  # every pixel; then 4000 of the 12 288 drawn at random
        monkeypatch.setattr(ratio, "MAX_SAMPLES", at_most)
        r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "--ev", "2,0,-2", "-o", str(tmp_path / "x.exr")])
        assert r.exit_code == 2 and "order is wrong" in r.stderr, (at_most, r.output)
        r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "--ev", "-2,0,2", "-o", str(tmp_path / "ok.exr"),
                                "--force"])
        assert r.exit_code == 0 and "not checked" not in r.stderr, (at_most, r.output)
    assert 96 * 128 > ratio.MAX_SAMPLES // 3  # the sampled path ran


def test_pixels_cannot_tell_a_curve_from_its_power():
    """Why no estimate from the pixels can pin every non-gamma camera: the frames of (curve g, times t)
    and of (g^γ, t^γ) over a scene of radiance E^γ are the same codes (Grossberg & Nayar 2003), so one
    estimate answers two truths 4^γ apart: an sRGB bracket with 4× steps and its γ = 1.3 twin (steps of
    6.1×) get the same estimate, which cannot lie within 15 % of both. Only EXIF, --ev or --exposures
    settle it; the estimate assumes the fallback curve's exponent (gamma 2.2)."""
    from conftest import procedural_radiance
    from selfhdr_cli.radiometry.exposure_ratio import estimate_exposures
    from selfhdr_cli.radiometry.response import CameraResponse, parse_response

    radiance = procedural_radiance(120, 160, 2) * np.float32(0.05)
    srgb = parse_response("srgb")
    levels = np.linspace(0.0, 1.0, 4096, dtype=np.float32)
    twin_curve = srgb.to_linear(np.repeat(levels[:, None], 3, axis=1)).astype(np.float64) ** 1.3
    twin = CameraResponse("table", curves=tuple(tuple(float(v) for v in twin_curve[:, c]) for c in range(3)))

    def codes(response, scene, times):
        return [np.round(response.from_linear(np.clip(scene * np.float32(t), 0, 1)) * 255) / 255 for t in times]

    truth = codes(srgb, radiance, (1.0, 4.0, 16.0))
    power = codes(twin, radiance.astype(np.float64) ** 1.3, (1.0, 4.0 ** 1.3, 16.0 ** 1.3))
    differ = max(float(np.mean(a != b)) for a, b in zip(truth, power))
    assert differ < 0.01  # the same 8-bit frames, but for the table's rounding
    fallback = parse_response("gamma:2.2")
    steps = np.diff(np.log2(estimate_exposures(truth, fallback)))
    twin_steps = np.diff(np.log2(estimate_exposures(power, fallback)))
    np.testing.assert_allclose(twin_steps, steps, atol=0.02)
    misses = np.maximum(np.abs(2 ** steps / 4 - 1), np.abs(2 ** twin_steps / 4 ** 1.3 - 1))
    assert np.all(misses > 0.15)  # one of the two truths is always out of reach
