"""Every bad input: one line naming the file and problem, right exit code, no output file."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from conftest import write_bracket
from selfhdr_cli.cli import app

runner = CliRunner()


def run_fails(args, tmp_path, code, *needles):
    before = set(tmp_path.rglob("*"))
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, args)])
    assert r.exit_code == code, r.output
    err = r.stderr.strip()
    assert "Traceback" not in r.output and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("selfhdr: error:")
    for needle in needles:
        assert needle in err, err
    assert set(tmp_path.rglob("*")) == before, "a failed run must not leave files behind"
    return err


@pytest.fixture
def scene(tmp_path, moving_scene):
    return write_bracket(tmp_path / "scene", moving_scene[0])


def test_fewer_than_two_frames(tmp_path, scene):
    run_fails([scene[0], "-o", tmp_path / "o.exr"], tmp_path, 2, "at least 2 frames", scene[0].name)


def test_mismatched_sizes(tmp_path, scene):
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.zeros((64, 64, 3), np.uint16), photometric="rgb")
    run_fails([scene[0], scene[1], small, "--ev", "0,2,4", "-o", tmp_path / "o.exr"], tmp_path, 1,
              "small.tif", "differs")


def test_corrupt_file(tmp_path, scene):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage" * 10)
    run_fails([scene[0], bad, "--ev", "0,2", "-o", tmp_path / "o.exr"], tmp_path, 1, "bad.tif", "readable")


def test_truncated_png(tmp_path, moving_scene):
    paths = write_bracket(tmp_path / "p", moving_scene[0], names=("a.png", "b.png", "c.png"))
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) // 3])
    run_fails([*paths, "-o", tmp_path / "o.exr"], tmp_path, 1, "b.png", "corrupt")


def test_missing_file(tmp_path, scene):
    run_fails([scene[0], tmp_path / "nope.tif", "--ev", "0,2", "-o", tmp_path / "o.exr"], tmp_path, 2,
              "nope.tif", "no such file")


def test_missing_exposures_that_the_pixels_cannot_give(tmp_path, moving_scene):
    """No metadata: the times are estimated from the pixels; refused when nothing is shared."""
    frames = [np.zeros_like(moving_scene[0][0]), *moving_scene[0][1:]]  # a black frame shares nothing
    paths = write_bracket(tmp_path / "s", frames, exposure_txt=False)
    run_fails([*paths, "-o", tmp_path / "o.exr"], tmp_path, 2, "a.tif", "no exposure times", "cannot be estimated",
              "--ev")


def test_duplicate_exposures(tmp_path, scene):
    run_fails([*scene, "--ev", "0,2,2", "-o", tmp_path / "o.exr"], tmp_path, 2, "same exposure")
    run_fails([*scene, "--exposures", "1/4,0.25,1", "-o", tmp_path / "o.exr"], tmp_path, 2, "same exposure")


def test_exposure_count_mismatch(tmp_path, scene):
    run_fails([*scene, "--ev", "0,2", "-o", tmp_path / "o.exr"], tmp_path, 2, "2 exposures for 3 frames")
    (scene[0].parent / "exposure.txt").write_text("0\n2\n4\n6\n")
    run_fails([*scene, "-o", tmp_path / "o.exr"], tmp_path, 2, "exposure.txt", "4 exposures")


def test_bad_exposure_syntax(tmp_path, scene):
    run_fails([*scene, "--exposures", "1/60,abc,1", "-o", tmp_path / "o.exr"], tmp_path, 2, "abc")
    run_fails([*scene, "--exposures", "1/60,-1,1", "-o", tmp_path / "o.exr"], tmp_path, 2, "positive")
    run_fails([*scene, "--ev", "0,2,4", "--exposures", "1,2,3", "-o", tmp_path / "o.exr"], tmp_path, 2, "not both")


def test_output_exists_without_force(tmp_path, scene):
    out = tmp_path / "o.exr"
    out.write_bytes(b"precious")
    run_fails([*scene, "-o", out], tmp_path, 2, "o.exr", "already exists", "--force")
    assert out.read_bytes() == b"precious"
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, scene), "-o", str(out), "--force"])
    assert r.exit_code == 0 and out.read_bytes() != b"precious"


def test_preview_exists_without_force(tmp_path, scene):
    png = tmp_path / "p.png"
    png.write_bytes(b"keep")
    run_fails([*scene, "-o", tmp_path / "o.exr", "--preview", png], tmp_path, 2, "p.png", "already exists")
    assert png.read_bytes() == b"keep"


def test_output_folder_missing(tmp_path, scene):
    run_fails([*scene, "-o", tmp_path / "nowhere" / "o.exr"], tmp_path, 2, "nowhere", "does not exist")


def test_unsupported_output_type(tmp_path, scene):
    run_fails([*scene, "-o", tmp_path / "o.jpg"], tmp_path, 2, "o.jpg", "unsupported")


def test_bad_reference_and_crf(tmp_path, scene):
    run_fails([*scene, "-o", tmp_path / "o.exr", "--reference", "7"], tmp_path, 2, "out of range")
    run_fails([*scene, "-o", tmp_path / "o.exr", "--crf", "gamma:x"], tmp_path, 2, "camera response")


def test_pixel_cap_refuses_before_decoding(tmp_path, scene, monkeypatch):
    monkeypatch.setenv("SELFHDR_MAX_PIXELS", "1000")
    run_fails([*scene, "-o", tmp_path / "o.exr"], tmp_path, 1, "cap")


def test_inputs_are_never_modified(tmp_path, scene):
    before = {p: p.read_bytes() for p in scene}
    assert runner.invoke(app, ["merge", "-m", "color", *map(str, scene), "-o", str(tmp_path / "o.exr")]).exit_code == 0
    assert {p: p.read_bytes() for p in scene} == before


def test_corrupt_png_through_a_real_process_prints_one_line(tmp_path, moving_scene):
    """libpng writes to the C-level stderr; only a real process shows whether it leaks."""
    import subprocess
    import sys

    paths = write_bracket(tmp_path / "p", moving_scene[0], names=("a.png", "b.png", "c.png"))
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) // 3])
    proc = subprocess.run([sys.executable, "-m", "selfhdr_cli", "merge", "-m", "color", *map(str, paths), "-o",
                           str(tmp_path / "o.exr")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"selfhdr: error: {paths[1]}: corrupt or unreadable image "
                                                "(decoder returned nothing)"]


def test_too_small_to_merge(tmp_path):
    tiny = [tmp_path / f"t{k}.tif" for k in range(3)]
    for k, p in enumerate(tiny):
        tifffile.imwrite(p, np.full((10, 40, 3), 60 * (k + 1), np.uint8), photometric="rgb")
    run_fails([*tiny, "--ev", "0,2,4", "-o", tmp_path / "o.exr"], tmp_path, 1, "t0.tif", "too small")
