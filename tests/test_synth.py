"""Synthesis: determinism, exposure statistics, motion, layout, held-out split."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from conftest import procedural_radiance
from selfhdr_cli.cli import app
from selfhdr_cli.evaluation.synth import BENCHMARK_MAPS, SceneConfig, make_scene, radiance_maps, synthesise
from selfhdr_cli.io.hdrfile import read_hdr_image, write_hdr_image

runner = CliRunner()


@pytest.fixture(scope="module")
def maps():
    return [procedural_radiance(160, 240, seed) * (1 + 40 * seed) for seed in range(3)]


@pytest.fixture
def map_dir(tmp_path, maps):
    folder = tmp_path / "hdr"
    folder.mkdir()
    names = [BENCHMARK_MAPS[0], "train_a", "train_b"]
    for name, image in zip(names, maps):
        write_hdr_image(folder / f"{name}.hdr", image)
    return folder


SMALL = SceneConfig(size=(96, 128))


def test_same_seed_same_scene_different_seed_differs(maps):
    a, _ = synthesise(maps, 3, seed=5, config=SMALL)
    b, _ = synthesise(maps, 3, seed=5, config=SMALL)
    c, _ = synthesise(maps, 3, seed=6, config=SMALL)
    for fa, fb in zip(a.frames, b.frames):
        np.testing.assert_array_equal(fa, fb)
    assert any(not np.array_equal(fa, fc) for fa, fc in zip(a.frames, c.frames))


def test_exposure_statistics(maps):
    for i in range(4):
        scene, _ = synthesise(maps, i, seed=1, config=SMALL)
        short, ref, _ = scene.frames
        assert np.mean(short.max(axis=2) >= 0.999) <= 0.01  # the short frame almost never clips
        assert scene.saturated_share >= 0.01  # the reference does: merging must matter
        assert scene.ground_truth.max() <= 1.0 and scene.ground_truth.min() >= 0
        assert scene.moving.any()


def test_static_scene_is_consistent_across_exposures(maps):
    scene = make_scene(maps[1], maps, np.random.default_rng(0), SceneConfig(size=(96, 128), static=True))
    assert not scene.moving.any()
    g = SMALL.sensor.response
    short, ref, long = (g.to_linear(f) for f in scene.frames)
    ok = (scene.frames[1] < 0.9) & (scene.frames[0] > 0.3)
    # the same radiance seen 4x brighter (up to noise), and the label is that radiance
    assert np.median(ref[ok] / short[ok]) == pytest.approx(4.0, rel=0.02)
    assert np.median(ref[ok] / 4 / scene.ground_truth[ok]) == pytest.approx(1.0, rel=0.02)


def test_objects_move_between_frames(maps):
    scene = make_scene(maps[0], maps[1:], np.random.default_rng(3),
                       SceneConfig(size=(96, 128), n_objects=(1, 1), motion_px=(20, 20), camera_shift_px=0,
                                   camera_degrees=0))
    g = SMALL.sensor.response
    short, ref, _ = (g.to_linear(f) for f in scene.frames)
    ok = (scene.frames[1] < 0.9)
    diff = np.abs(4 * short - ref)[ok]
    assert diff.max() > 0.05  # something moved


def test_split_keeps_benchmark_maps_apart(map_dir):
    assert [p.stem for p in radiance_maps(map_dir, "test")] == [BENCHMARK_MAPS[0]]
    assert BENCHMARK_MAPS[0] not in [p.stem for p in radiance_maps(map_dir, "train")]
    assert len(radiance_maps(map_dir, "all")) == 3


def test_cli_writes_kalantari_layout(tmp_path, map_dir):
    out = tmp_path / "data"
    r = runner.invoke(app, ["synth", str(map_dir), str(out), "--scenes", "3", "--seed", "9", "--size", "128x96",
                            "--split", "train"])
    assert r.exit_code == 0, r.output
    scenes = sorted(out.iterdir())
    assert [s.name for s in scenes] == ["scene_000", "scene_001", "scene_002"]
    files = sorted(p.name for p in scenes[0].iterdir())
    assert files == ["HDRImg.hdr", "exposure.txt", "frame_0.tif", "frame_1.tif", "frame_2.tif", "scene.json"]
    assert (scenes[0] / "exposure.txt").read_text().split() == ["0", "2", "4"]
    frame = tifffile.imread(scenes[0] / "frame_1.tif")
    assert frame.dtype == np.uint16 and frame.shape == (96, 128, 3)
    assert read_hdr_image(scenes[0] / "HDRImg.hdr").shape == (96, 128, 3)
    meta = json.loads((scenes[0] / "scene.json").read_text())
    assert meta["background"] in ("train_a.hdr", "train_b.hdr") and meta["static"] is False
    # deterministic on disk too, and existing scenes are kept
    again = tmp_path / "again"
    runner.invoke(app, ["synth", str(map_dir), str(again), "--scenes", "3", "--seed", "9", "--size", "128x96",
                        "--split", "train"])
    assert tifffile.imread(again / "scene_002" / "frame_0.tif").tobytes() == \
        tifffile.imread(out / "scene_002" / "frame_0.tif").tobytes()
    r = runner.invoke(app, ["synth", str(map_dir), str(out), "--scenes", "3", "--seed", "9", "--size", "128x96"])
    assert "0 written, 3 already there" in r.stderr


def test_cli_eight_bit_ev3_static(tmp_path, map_dir):
    out = tmp_path / "d"
    r = runner.invoke(app, ["synth", str(map_dir), str(out), "--scenes", "1", "--size", "64x48", "--bits", "8",
                            "--ev-step", "3", "--static"])
    assert r.exit_code == 0, r.output
    assert tifffile.imread(out / "scene_000" / "frame_0.tif").dtype == np.uint8
    assert (out / "scene_000" / "exposure.txt").read_text().split() == ["0", "3", "6"]
    assert json.loads((out / "scene_000" / "scene.json").read_text())["static"] is True


def test_cli_bad_arguments(tmp_path, map_dir):
    for extra, needle in ((["--bits", "12"], "--bits"), (["--size", "big"], "--size"),
                          (["--split", "nope"], "")):
        r = runner.invoke(app, ["synth", str(map_dir), str(tmp_path / "x"), *extra])
        assert r.exit_code == 2 and needle in r.output
    r = runner.invoke(app, ["synth", str(tmp_path / "none"), str(tmp_path / "x")])
    assert r.exit_code == 2 and "no such folder" in r.stderr


def test_realistic_camera_renders_jpeg_through_a_curve_of_its_own(maps):
    from selfhdr_cli.evaluation.synth import RealisticCamera

    config = SceneConfig(size=(96, 128), camera=RealisticCamera())
    scene, _ = synthesise(maps, 0, seed=3, config=config)
    other, _ = synthesise(maps, 1, seed=3, config=config)
    sensor = scene.sensor
    assert sensor.bits == 8 and 80 <= sensor.jpeg_quality <= 95
    assert sensor.response.kind == "table" and sensor.response.identity != other.sensor.response.identity
    levels = np.linspace(0.05, 0.95, 19, dtype=np.float32)
    curves = sensor.response.to_linear(np.repeat(levels[:, None], 3, axis=1))
    assert not np.allclose(curves[:, 0], curves[:, 2], rtol=0.01)  # per channel
    assert np.abs(curves[:, 1] / levels ** 2.2 - 1).max() > 0.1    # not gamma 2.2
    for frame in scene.frames:  # 8-bit values
        assert np.allclose(frame * 255, np.round(frame * 255), atol=1e-3)
    # the ideal camera's scenes are unchanged by the option's existence: same seed, same frames
    ideal, _ = synthesise(maps, 0, seed=3, config=SceneConfig(size=(96, 128)))
    assert ideal.sensor.bits == 16 and ideal.sensor.jpeg_quality == 0


def test_cli_realistic_camera(tmp_path, map_dir):
    out = tmp_path / "cam"
    r = runner.invoke(app, ["synth", str(map_dir), str(out), "--scenes", "1", "--size", "128x96",
                            "--camera", "realistic"])
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "scene_000" / "scene.json").read_text())
    assert meta["camera"] == "realistic" and meta["bits"] == 8 and meta["response"].startswith("table:")
    assert tifffile.imread(out / "scene_000" / "frame_0.tif").dtype == np.uint8
    r = runner.invoke(app, ["synth", str(map_dir), str(tmp_path / "y"), "--camera", "realistic", "--bits", "8"])
    assert r.exit_code == 2 and "leave --bits and --crf out" in r.output
