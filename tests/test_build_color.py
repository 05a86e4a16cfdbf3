"""build-color: one bracket, a dataset folder, skipping, forcing, bad scenes."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from conftest import color_config, dynamic_bracket, write_bracket
from selfhdr_cli.io.dataset import find_scenes
from selfhdr_cli.merge.align import AlignConfig
from selfhdr_cli.merge.bracket import bracket_from_arrays
from selfhdr_cli.merge.color import ColorConfig, build_color
from selfhdr_cli.training.caches import ColorCache

runner = CliRunner()


def make_dataset(root, n=3):
    for i in range(n):
        frames, _, _ = dynamic_bracket(96, 128, shift=6 + i, seed=i)
        write_bracket(root / f"scene_{i:03d}", frames)
        (root / f"scene_{i:03d}" / "HDRImg.hdr").write_bytes(b"not read by build-color")
    return root


def test_dataset_build_skip_force(tmp_path):
    data = make_dataset(tmp_path / "data")
    out = tmp_path / "cache"
    r = runner.invoke(app_cmd(), ["build-color", str(data), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert [s["status"] for s in summary["scenes"]] == ["built"] * 3
    cache = ColorCache(out / "scene_001")
    assert cache.is_complete()
    y, aligned, meta = cache.load()
    assert y.dtype == np.float32 and y.shape == (96, 128, 3) and len(aligned) == 3
    assert meta["reference"] == 1 and meta["relative_times"] == [1.0, 4.0, 16.0]
    # the stored Y_color is exactly what the library computes (lossless float storage)
    frames, _, _ = dynamic_bracket(96, 128, shift=7, seed=1)
    from selfhdr_cli.io.frames import read_ldr
    files = sorted((data / "scene_001").glob("*.tif"))
    expected = build_color(bracket_from_arrays([read_ldr(f) for f in files], [1, 4, 16]), color_config())
    np.testing.assert_array_equal(y, expected.y_color)
    np.testing.assert_array_equal(aligned[1], expected.aligned[1])
    stamp = cache.y_color.stat().st_mtime_ns
    r = runner.invoke(app_cmd(), ["build-color", str(data), "-o", str(out), "--json"])
    assert [s["status"] for s in json.loads(r.stdout)["scenes"]] == ["skipped"] * 3
    assert cache.y_color.stat().st_mtime_ns == stamp
    r = runner.invoke(app_cmd(), ["build-color", str(data), "-o", str(out), "--force", "--json"])
    assert [s["status"] for s in json.loads(r.stdout)["scenes"]] == ["built"] * 3
    # a cache made with another flow or response is rebuilt, never reused, and the run says why
    (out / "scene_001" / "y_stru.exr").write_bytes(b"made from the old aligned frames")
    r = runner.invoke(app_cmd(), ["build-color", str(data), "-o", str(out), "--flow", "dis-fast", "--json"])
    assert [s["status"] for s in json.loads(r.stdout)["scenes"]] == ["rebuilt"] * 3
    assert "dis-fast" in r.stderr and ColorCache(out / "scene_001").recorded_settings()["align"]["flow"] == "dis-fast"
    assert not (out / "scene_001" / "y_stru.exr").exists()
    r = runner.invoke(app_cmd(), ["build-color", str(data), "-o", str(out), "--flow", "dis-fast", "--crf", "srgb",
                                  "--json"])
    assert [s["status"] for s in json.loads(r.stdout)["scenes"]] == ["rebuilt"] * 3
    # a frame rewritten under the same name (another synth seed, an edit) is seen too
    frame = data / "scene_002" / "b.tif"
    frame.write_bytes(frame.read_bytes() + b"\0")
    r = runner.invoke(app_cmd(), ["build-color", str(data), "-o", str(out), "--flow", "dis-fast", "--crf", "srgb",
                                  "--json"])
    assert [s["status"] for s in json.loads(r.stdout)["scenes"]] == ["skipped", "skipped", "rebuilt"]
    r = runner.invoke(app_cmd(), ["build-color", str(data), "-o", str(out), "--flow", "dis-fast", "--crf", "srgb",
                                  "--color-merge", "triangle", "--json"])
    assert [s["status"] for s in json.loads(r.stdout)["scenes"]] == ["rebuilt"] * 3 and "merge" in r.stderr


def test_default_output_beside_dataset(tmp_path):
    data = make_dataset(tmp_path / "data", n=1)
    r = runner.invoke(app_cmd(), ["build-color", str(data)])
    assert r.exit_code == 0, r.output
    assert ColorCache(tmp_path / "data.selfhdr" / "scene_000").is_complete()
    assert sorted(p.name for p in (data / "scene_000").iterdir()) == ["HDRImg.hdr", "a.tif", "b.tif", "c.tif",
                                                                      "exposure.txt"]


def test_single_bracket_from_files(tmp_path, moving_scene):
    paths = write_bracket(tmp_path / "s", moving_scene[0], exposure_txt=False)
    r = runner.invoke(app_cmd(), ["build-color", *map(str, paths), "--ev", "0,2,4", "-o", str(tmp_path / "one")])
    assert r.exit_code == 0, r.output
    assert ColorCache(tmp_path / "one").is_complete()
    r = runner.invoke(app_cmd(), ["build-color", *map(str, paths), "--ev", "0,2,4"])
    assert r.exit_code == 2 and "--out" in r.stderr


def test_bad_scene_is_reported_and_others_built(tmp_path):
    data = make_dataset(tmp_path / "data")
    (data / "scene_001" / "exposure.txt").write_text("0\n0\n4\n")
    r = runner.invoke(app_cmd(), ["build-color", str(data), "-o", str(tmp_path / "c"), "--json"])
    assert r.exit_code == 1
    statuses = {s["scene"]: s["status"] for s in json.loads(r.stdout)["scenes"]}
    assert statuses == {"scene_000": "built", "scene_001": "failed", "scene_002": "built"}
    assert "scene_001" in r.stderr and "same exposure" in r.stderr


def test_find_scenes_rejects_empty_folder(tmp_path):
    import pytest

    from selfhdr_cli.errors import UsageError

    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no scenes"):
        find_scenes(tmp_path / "empty")


def test_every_flow_recovers_the_radiance_of_a_translated_bracket():
    """The camera moves by a known (5, 3) and (−4, 2) px between frames of a static scene: aligned,
    every flow gets the reference's radiance back (PSNR-μ against it, 12 px border excluded) far
    better than the same merge without alignment; the default flow nearly as well as with no motion."""
    from conftest import procedural_radiance
    from selfhdr_cli.evaluation.synth import SensorConfig, render_bracket
    from selfhdr_cli.merge.align import DEFAULT_FLOW, FLOW_METHODS
    from selfhdr_cli.merge.color import merge_triangle
    from selfhdr_cli.radiometry.mulaw import mu_law
    from selfhdr_cli.radiometry.response import CameraResponse

    h, w, m = 128, 160, 12
    canvas = procedural_radiance(h + 32, w + 32, 3)

    def moved(dx, dy):
        return np.array([[1, 0, dx], [0, 1, dy]], float)

    def psnr_mu(x, gt):
        return 10 * np.log10(1 / np.mean((mu_law(x[m:-m, m:-m]) - mu_law(gt[m:-m, m:-m])) ** 2))

    frames, gt, _ = render_bracket(canvas, (h, w), [], [0.0, 2.0, 4.0], 1, SensorConfig(), np.random.default_rng(0),
                                   camera=[moved(5, 3), None, moved(-4, 2)])
    still, gt_still, _ = render_bracket(canvas, (h, w), [], [0.0, 2.0, 4.0], 1, SensorConfig(),
                                        np.random.default_rng(0))
    bracket = bracket_from_arrays(frames, [1, 4, 16])
    unaligned = psnr_mu(merge_triangle(bracket.frames, bracket.relative_times, 1, CameraResponse("gamma")), gt)
    motion_free = psnr_mu(build_color(bracket_from_arrays(still, [1, 4, 16]), color_config()).y_color, gt_still)
    scores = {f: psnr_mu(build_color(bracket, color_config(flow=f)).y_color, gt)
              for f in FLOW_METHODS}
    assert unaligned < 32, unaligned  # the shift is real: without alignment the merge is visibly wrong
    for flow, score in scores.items():  # every flow keeps the camera's rigid motion (OpenCV 5.0 and 5.1 alike)
        assert score > motion_free - 2, (flow, scores, motion_free, unaligned)
    assert DEFAULT_FLOW in scores


def app_cmd():
    from selfhdr_cli.cli import app

    return app


def test_large_images_get_flow_at_reduced_size(monkeypatch):
    """Above FLOW_MAX_PIXELS the flow is estimated small and upsampled; alignment still works."""
    import selfhdr_cli.merge.align as align

    frames, gt, moving = dynamic_bracket(128, 160, shift=8, seed=5)
    bracket = bracket_from_arrays(frames, [1, 4, 16])
    full = build_color(bracket, color_config()).y_color
    monkeypatch.setattr(align, "FLOW_MAX_PIXELS", 128 * 160 // 4)
    reduced = build_color(bracket, color_config()).y_color
    from selfhdr_cli.radiometry.mulaw import mu_law

    def p(x):
        return 10 * np.log10(1 / np.mean((mu_law(x) - mu_law(gt)) ** 2))

    debevec = bracket_from_arrays(frames, [1, 4, 16])
    from selfhdr_cli.merge.debevec import merge_debevec
    from selfhdr_cli.radiometry.response import CameraResponse

    ghosted = merge_debevec(debevec.frames, debevec.relative_times, CameraResponse("gamma"))
    assert not np.array_equal(full, reduced)
    assert p(reduced) > p(ghosted) + 3 and p(reduced) > p(full) - 3


def _camera_curve(levels: int = 256) -> np.ndarray:
    """A camera response far from gamma 2.2: test_calibration's filmic toe and shoulder, raised to
    0.7 (a stronger toe), as linear values at ``levels`` evenly spaced LDR levels."""
    from test_calibration import filmic_response

    filmic = np.asarray(filmic_response().curves[0])
    return np.interp(np.linspace(0, 1, levels), np.linspace(0, 1, filmic.size), filmic) ** 0.7


def _psnr_mu(x, gt):
    from selfhdr_cli.radiometry.mulaw import mu_law

    return 10 * np.log10(1 / np.mean((mu_law(x) - mu_law(gt)) ** 2))


def test_build_color_reads_and_merges_with_the_given_response(tmp_path):
    """An 8-bit bracket shot through a non-gamma response: build-color --crf camera.json gives Y_color
    close to the ground truth, and checks the given exposures through that response (under gamma 2.2
    the pixels measure ~3× the stops and contradict them); with the default --crf the Y_color is far
    off. A dry run reports the exposures the merge estimates with the same --crf; and a response file
    recalibrated in place is another response: the cache is rebuilt."""
    from conftest import procedural_radiance
    from selfhdr_cli.evaluation.synth import SensorConfig, render_bracket
    from selfhdr_cli.radiometry.response import CameraResponse, response_document

    curve = _camera_curve()
    camera = CameraResponse(kind="table", curves=(tuple(curve),) * 3, source="camera")
    canvas = procedural_radiance(160, 224, 1) * 0.8
    frames, gt, _ = render_bracket(canvas, (160, 224), [], [0.0, 2.0, 4.0], 1, SensorConfig(response=camera, bits=8),
                                   np.random.default_rng(1))
    paths = write_bracket(tmp_path / "scene", frames, bits=8, names=("a.png", "b.png", "c.png"))  # exposure.txt 0 2 4
    response = tmp_path / "camera.json"
    response.write_bytes(response_document(np.stack([curve] * 3), {"method": "test: the camera's own curve"}))

    def build(out, *flags):
        r = runner.invoke(app_cmd(), ["build-color", *map(str, paths), "-o", str(tmp_path / out), "--json", *flags])
        return r, ColorCache(tmp_path / out)

    r, cache = build("cam", "--crf", str(response))
    assert r.exit_code == 0, r.output
    assert [s["status"] for s in json.loads(r.stdout)["scenes"]] == ["built"]
    y_camera = cache.load()[0]
    assert _psnr_mu(y_camera, gt) > 30, _psnr_mu(y_camera, gt)
    r, _ = build("refused")  # the given exposures, read through gamma 2.2, contradict the pixels
    assert r.exit_code == 1 and "EV apart" in r.stderr, r.output
    r, cache = build("default", "--exposures", "auto")
    assert r.exit_code == 0, r.output
    y_default = cache.load()[0]
    assert _psnr_mu(y_default, gt) < 20 and _psnr_mu(y_default, y_camera) < 20, (_psnr_mu(y_default, gt),
                                                                                  _psnr_mu(y_default, y_camera))

    # no exposure metadata: a dry run estimates the exposures as the merge does, through --crf
    bare = [tmp_path / "bare" / p.name for p in paths]
    bare[0].parent.mkdir()
    for src, dst in zip(paths, bare):
        dst.write_bytes(src.read_bytes())
    dry = runner.invoke(app_cmd(), ["merge", *map(str, bare), "--dry-run", "--json", "--crf", str(response)])
    assert dry.exit_code == 0, dry.output
    merged = runner.invoke(app_cmd(), ["merge", "-m", "color", *map(str, bare), "--json", "--crf", str(response),
                                       "-o", str(tmp_path / "bare.exr")])
    assert merged.exit_code == 0, merged.output
    dry_times, merge_times = json.loads(dry.stdout)["exposure_times"], json.loads(merged.stdout)["exposure_times"]
    assert dry_times == merge_times, (dry_times, merge_times)
    np.testing.assert_allclose(np.log2(merge_times), [0, 2, 4], atol=0.1)

    # recalibrated into the same path: other curves, so the cache made with the old ones is rebuilt
    r = runner.invoke(app_cmd(), ["calibrate", *map(str, paths), "-o", str(response), "--force"])
    assert r.exit_code == 0, r.output
    r, cache = build("cam", "--crf", str(response))
    assert r.exit_code == 0, r.output
    assert [s["status"] for s in json.loads(r.stdout)["scenes"]] == ["rebuilt"] and "response" in r.stderr, r.output
    assert not np.array_equal(cache.load()[0], y_camera)
    r, _ = build("cam", "--crf", str(response))
    assert [s["status"] for s in json.loads(r.stdout)["scenes"]] == ["skipped"]
