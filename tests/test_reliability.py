"""Every failure is one line and loses nothing: the output side, exposure sanity,
devices, training numbers, interrupts, clobbering, messages."""

from __future__ import annotations

import errno
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from typer.testing import CliRunner

from conftest import write_bracket
from selfhdr_cli.cli import app
from selfhdr_cli.errors import SelfHDRError, UsageError

runner = CliRunner()


def one_line(result, code: int, *needles: str) -> str:
    """The command failed with ``code`` and said so in one line containing every needle."""
    assert result.exit_code == code, result.output
    err = result.stderr.strip()
    assert "Traceback" not in result.output and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("selfhdr: error:"), err
    for needle in needles:
        assert needle in err, err
    return err


def run_cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """The real ``selfhdr`` process (main(): the handlers a CliRunner does not go through)."""
    return subprocess.run([sys.executable, "-m", "selfhdr_cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def scene(tmp_path, moving_scene):
    return write_bracket(tmp_path / "scene", moving_scene[0])


# ---- the output side ---------------------------------------------------------------------------

def _refuse_probe(monkeypatch, code=errno.EROFS):
    import tempfile as real_tempfile

    from selfhdr_cli.io import atomic

    original = real_tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        if str(kwargs.get("prefix", "")).startswith(".selfhdr-probe"):
            raise OSError(code, os.strerror(code))
        return original(*args, **kwargs)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_unwritable_output_folder_is_found_before_the_merge(tmp_path, scene, monkeypatch, code):
    """(As root a chmod does not stop writes, so the refusal is simulated where the system gives it.)"""
    from selfhdr_cli.merge import bracket

    _refuse_probe(monkeypatch, code)
    monkeypatch.setattr(bracket, "read_ldr", lambda *a, **k: pytest.fail("decoded before checking the output"))
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, scene), "-o", str(tmp_path / "o.exr")])
    one_line(r, 1, "cannot write into this folder", os.strerror(code))


def test_unwritable_output_for_tonemap_synth_and_train(tmp_path, scene, monkeypatch):
    from selfhdr_cli.io.hdrfile import write_hdr_image

    hdr = tmp_path / "in.exr"
    write_hdr_image(hdr, np.ones((32, 32, 3), np.float32))
    _refuse_probe(monkeypatch)
    one_line(runner.invoke(app, ["tonemap", str(hdr), str(tmp_path / "t.png")]), 1, "cannot write into this folder")
    maps = tmp_path / "maps"
    maps.mkdir()
    write_hdr_image(maps / "a.exr", np.ones((64, 64, 3), np.float32))
    one_line(runner.invoke(app, ["synth", str(maps), str(tmp_path / "syn"), "-n", "1"]), 1,
             "cannot write into this folder")
    ds = tmp_path / "ds"
    write_bracket(ds / "s0", _frames(scene))
    r = runner.invoke(app, ["train", str(ds), "--preset", "tiny", "--work", str(tmp_path / "w")])
    one_line(r, 1, "cannot write into this folder")
    assert not (tmp_path / "w" / "s0").exists(), "nothing may be built before the output is known writable"


def _frames(paths):
    from selfhdr_cli.io.frames import read_ldr

    return [read_ldr(p) for p in paths]


def test_disk_full_while_writing_names_the_output_and_leaves_nothing(tmp_path, scene, monkeypatch):
    from selfhdr_cli.io import atomic

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    out = tmp_path / "o.hdr"
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, scene), "-o", str(out)])
    one_line(r, 1, "o.hdr", "cannot write", "No space left on device")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_an_os_error_anywhere_is_one_line_from_main(monkeypatch, capsys):
    import selfhdr_cli.cli as cli

    def broken(**kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "out.exr")

    monkeypatch.setattr(cli, "app", broken)
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err == "selfhdr: error: out.exr: No space left on device"


def test_usage_errors_of_typer_are_one_line_exit_2(tmp_path):
    for args in (["tonemap", "a.exr", "-o", "b.png"], ["train", str(tmp_path), "--threads", "0"],
                 ["merge", "a.tif", "--method", "foo"]):
        r = run_cli(*args)
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("selfhdr: error:"), r.stderr


def test_messages_do_not_start_with_a_blank_line_off_a_terminal(tmp_path, scene):
    r = run_cli("merge", "-m", "color", *scene, "-o", tmp_path / "o.exr")
    assert r.returncode == 0 and r.stderr.startswith("Wrote"), repr(r.stderr)
    r = run_cli("merge", "-m", "color", *scene, "-o", tmp_path / "o.exr")
    assert r.returncode == 2 and r.stderr.startswith("selfhdr: error:"), repr(r.stderr)


# ---- devices -----------------------------------------------------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize("device, needle", [("cuda", "no CUDA device"), ("cuda:9", "no CUDA device"),
                                            ("foo", "unknown device")])
def test_bad_devices_are_refused_before_the_work(tmp_path, scene, device, needle):
    r = runner.invoke(app, ["merge", *map(str, scene), "-o", str(tmp_path / "o.exr"), "--device", device])
    one_line(r, 2, needle)
    assert not (tmp_path / "o.exr").exists()
    ds = tmp_path / "ds"
    write_bracket(ds / "s0", _frames(scene))
    r = runner.invoke(app, ["train", str(ds), "--preset", "tiny", "--device", device, "--work", str(tmp_path / "w")])
    one_line(r, 2, needle)
    assert not (tmp_path / "w").exists()


def test_a_missing_cuda_index_is_named(monkeypatch):
    from selfhdr_cli.merge.device import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(UsageError, match="no such CUDA device"):
        pick_device("cuda:9")
    assert pick_device("cuda:1").index == 1


# ---- frames ------------------------------------------------------------------------------------

def test_symlink_loop_as_a_frame(tmp_path, scene):
    loop = tmp_path / "loop.tif"
    os.symlink(loop, loop)
    r = runner.invoke(app, ["merge", "-m", "color", str(loop), *map(str, scene[1:]), "-o", str(tmp_path / "o.exr")])
    one_line(r, 1, "loop.tif", "symbolic link loop")


def test_all_nan_float_frame_is_refused(tmp_path, scene):
    nan = tmp_path / "nan.tif"
    tifffile.imwrite(nan, np.full((192, 256, 3), np.nan, np.float32), photometric="rgb")
    r = runner.invoke(app, ["merge", "-m", "color", str(nan), *map(str, scene[1:]), "--ev", "-2,0,2",
                            "-o", str(tmp_path / "o.exr")])
    one_line(r, 1, "nan.tif", "NaN")


def _fake_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width × height (its data is a stub: only the header is read first)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    path.write_bytes(data + b"\x00" * 64)
    return path


def test_a_merge_that_cannot_fit_in_memory_is_refused_from_the_headers(tmp_path, monkeypatch):
    from selfhdr_cli.merge import bracket, memory

    frames = [_fake_png(tmp_path / f"{k}.png", 12000, 10000) for k in range(3)]  # 3 × 120 MP
    monkeypatch.setattr(memory, "available_bytes", lambda: 6 * 2 ** 30)
    monkeypatch.setattr(bracket, "read_ldr", lambda *a, **k: pytest.fail("decoded a merge that cannot fit"))
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, frames), "--ev", "-2,0,2", "-o", str(tmp_path / "o.exr")])
    one_line(r, 1, "12000x10000", "GiB", "available")


def test_memory_estimate_bounds_the_measured_peak():
    from selfhdr_cli.merge.memory import available_bytes, merge_bytes

    # benchmarks/peer_speed.py, 6000×4000, 3 frames, whole process: net 4.0 GB (3818 MiB), color 3.25 GB (3102 MiB)
    assert 4.0e9 <= merge_bytes(4000, 6000, 3, "net") <= 6e9  # measured peaks (benchmarks/peer_speed.py)
    assert 3.25e9 <= merge_bytes(4000, 6000, 3, "color") <= 4.5e9
    have = available_bytes()
    assert have is None or have > 0


# ---- exposures against the pixels ---------------------------------------------------------------

def test_exposures_that_contradict_the_pixels_are_refused(tmp_path, scene):
    out = tmp_path / "o.exr"
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, scene), "--ev", "2,0,-2", "-o", str(out)])
    err = one_line(r, 2, "order is wrong", "--trust-exposures", "+2.00 EV", "-2.00 EV")
    assert "c.tif → b.tif" in err  # --ev 2,0,-2 sorts them c, b, a
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, scene), "--ev", "0,2,6", "-o", str(out)])
    one_line(r, 2, "spacing is wrong")
    assert not out.exists()
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, scene), "--ev", "2,0,-2", "-o", str(out),
                            "--trust-exposures"])
    assert r.exit_code == 0, r.output


def test_measured_exposure_ratio_recovers_known_steps(moving_scene):
    from selfhdr_cli.radiometry.exposure_ratio import exposure_contradictions, measure_exposure_ratio
    from selfhdr_cli.radiometry.response import CameraResponse

    frames = moving_scene[0]  # EV 0, 2, 4 with noise and a moving object
    g = CameraResponse("gamma")
    assert measure_exposure_ratio(frames[0], frames[1], g).stops == pytest.approx(2.0, abs=0.15)
    assert measure_exposure_ratio(frames[1], frames[2], g).stops == pytest.approx(2.0, abs=0.15)
    assert exposure_contradictions(frames, [1, 4, 16], g) == ([], [])
    assert [c.kind for c in exposure_contradictions(frames[::-1], [1, 4, 16], g)[0]] == ["order", "order"]
    dark = [np.zeros_like(frames[0])] * 2  # nothing shared: not judged, not refused
    assert measure_exposure_ratio(*dark, g).stops is None and exposure_contradictions(dark, [1, 4], g) == ([], [(0, 1)])


def test_a_note_says_which_source_won_when_exif_disagrees(tmp_path, scene):
    from conftest import quantise

    folder = tmp_path / "tagged"
    folder.mkdir()
    paths = []
    for k, (p, den) in enumerate(zip(scene, (1000, 500, 250))):  # EXIF: 1 stop apart; exposure.txt: 2
        path = folder / f"{k}.tif"
        tifffile.imwrite(path, quantise(_frames([p])[0], 16), photometric="rgb",
                         extratags=[(33434, 5, 1, (1, den), True)])
        paths.append(path)
    (folder / "exposure.txt").write_text("0\n2\n4\n")
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, paths), "-o", str(tmp_path / "o.exr"), "--json"])
    assert r.exit_code == 0, r.output
    assert "note: exposures from" in r.stderr and "EXIF ExposureTime disagrees" in r.stderr
    assert "EXIF ExposureTime disagrees" in json.loads(r.stdout)["exposure_note"]


def test_exposure_span_is_bounded(tmp_path, scene):
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, scene), "--exposures", "1e-300,1,1e300",
                            "-o", str(tmp_path / "o.exr")])
    one_line(r, 2, "1e-300 s is not an exposure time")
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, scene), "--ev", "-40,0,40", "-o", str(tmp_path / "o.exr")])
    one_line(r, 2, "span", "40 EV")


@pytest.mark.parametrize("stops", ["1e6", "nan", "inf", "-inf"])
def test_tonemap_exposure_must_be_a_sane_number(tmp_path, stops):
    from selfhdr_cli.io.hdrfile import write_hdr_image

    hdr = tmp_path / "in.exr"
    write_hdr_image(hdr, np.ones((32, 32, 3), np.float32))
    r = runner.invoke(app, ["tonemap", str(hdr), str(tmp_path / "t.png"), "--exposure", stops])
    one_line(r, 2, "--exposure")
    assert not (tmp_path / "t.png").exists()


# ---- training numbers --------------------------------------------------------------------------

@pytest.mark.parametrize("flag, value", [("--lr", "inf"), ("--lr", "-1"), ("--lr", "nan"), ("--lr", "0")])
def test_training_numbers_are_checked_before_the_work(tmp_path, scene, flag, value):
    ds = tmp_path / "ds"
    write_bracket(ds / "s0", _frames(scene))
    r = runner.invoke(app, ["train", str(ds), "--preset", "tiny", flag, value, "--work", str(tmp_path / "w")])
    one_line(r, 2, flag)
    assert not (tmp_path / "w").exists()


def test_a_diverging_loss_stops_training_and_writes_no_weights(tmp_path, scene, monkeypatch):
    from selfhdr_cli.training import loop

    def nan_loss(pred, *args, **kwargs):
        return pred.mean() * float("nan"), {"se": float("nan"), "sp": float("nan")}

    monkeypatch.setattr(loop, "stage1_loss", nan_loss)
    ds = tmp_path / "ds"
    write_bracket(ds / "s0", _frames(scene))
    work = tmp_path / "w"
    r = runner.invoke(app, ["train", str(ds), "--preset", "tiny", "--work", str(work)])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    errors = [line for line in r.stderr.splitlines() if "error" in line]  # after the progress lines, one error
    assert len(errors) == 1 and "loss is nan" in errors[0] and "--lr" in errors[0], r.stderr
    assert not list(work.glob("*.safetensors")) and not list(work.glob("*.pt"))


def test_weights_with_non_finite_values_are_never_written_nor_used(tmp_path, scene):
    from selfhdr_cli.nets import build_network
    from selfhdr_cli.nets.weights import load_weights, save_weights

    net = build_network("fastnet")
    good = tmp_path / "good.safetensors"
    save_weights(good, net, "fastnet")
    with torch.no_grad():
        next(net.parameters()).fill_(float("nan"))
    with pytest.raises(SelfHDRError, match="NaN"):
        save_weights(tmp_path / "bad.safetensors", net, "fastnet")
    assert not (tmp_path / "bad.safetensors").exists()
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    state = load_file(str(good))
    state[next(iter(state))] = torch.full_like(state[next(iter(state))], float("nan"))
    with safe_open(str(good), framework="pt") as f:
        meta = f.metadata()
    poisoned = tmp_path / "poisoned.safetensors"
    save_file(state, str(poisoned), metadata=meta)
    with pytest.raises(SelfHDRError, match="NaN"):
        load_weights(poisoned)
    r = runner.invoke(app, ["merge", *map(str, scene), "-w", str(poisoned), "-o", str(tmp_path / "o.exr")])
    one_line(r, 1, "NaN")


def test_bad_vgg_weights_are_refused_before_any_training(tmp_path, scene):
    ds = tmp_path / "ds"
    write_bracket(ds / "s0", _frames(scene))
    bad = tmp_path / "vgg.pth"
    bad.write_bytes(b"not a state dict")
    r = runner.invoke(app, ["train", str(ds), "--preset", "tiny", "--vgg-weights", str(bad),
                            "--work", str(tmp_path / "w")])
    one_line(r, 1, "vgg.pth", "VGG19")
    assert not (tmp_path / "w").exists()


# ---- options that were silently ignored ---------------------------------------------------------

def test_preview_with_batch_and_half_with_hdr_are_refused(tmp_path, scene):
    shoot = tmp_path / "shoot"
    write_bracket(shoot / "b0", _frames(scene))
    r = runner.invoke(app, ["merge", "-m", "color", "--batch", str(shoot), "-o", str(tmp_path / "out"),
                            "--preview", str(tmp_path / "p.png")])
    one_line(r, 2, "--previews")
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, scene), "-o", str(tmp_path / "o.hdr"), "--half"])
    one_line(r, 2, "--half", ".exr")
    assert not (tmp_path / "o.hdr").exists()


# ---- losing or clobbering output ----------------------------------------------------------------

def test_creating_an_output_without_force_is_exclusive(tmp_path):
    from selfhdr_cli.io.atomic import atomic_path

    target = tmp_path / "o.exr"
    with pytest.raises(UsageError, match="another run wrote it meanwhile"):
        with atomic_path(target, force=False) as tmp:
            tmp.write_bytes(b"mine")
            target.write_bytes(b"theirs")  # the other run finished first
    assert target.read_bytes() == b"theirs" and not [p for p in tmp_path.iterdir() if ".part" in p.name]
    with atomic_path(target, force=True) as tmp:
        tmp.write_bytes(b"mine")
    assert target.read_bytes() == b"mine"


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path, scene):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    out = tmp_path / "o.exr"
    stale = tmp_path / f".o.{dead}.abc123.part.exr"
    stale.write_bytes(b"half a file")
    live = tmp_path / f".o.{os.getppid()}.def456.part.exr"  # a running process's: left alone
    live.write_bytes(b"in progress")
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, scene), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file() and not stale.exists() and live.exists()


def test_an_output_and_its_preview_are_one_unit_in_batches(tmp_path, scene):
    shoot = tmp_path / "shoot"
    for name in ("b0", "b1", "b2"):
        write_bracket(shoot / name, _frames(scene))
    out = tmp_path / "out"
    args = ["merge", "-m", "color", "--batch", str(shoot), "-o", str(out), "--previews", "--json"]
    assert runner.invoke(app, args).exit_code == 0
    (out / "b0.png").unlink()          # interrupted between the two writes (before this change's order)
    (out / "b1.exr").unlink()          # interrupted after the preview (the order now)
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    status = {b["name"]: b["status"] for b in json.loads(r.stdout)["brackets"]}
    assert status == {"b0": "previewed", "b1": "merged", "b2": "skipped"}  # nothing was merged for b0
    assert all((out / f"{n}.{s}").is_file() for n in ("b0", "b1", "b2") for s in ("exr", "png"))


def test_outputs_stay_inside_their_folder(tmp_path, scene):
    shoot = tmp_path / "shoot"
    write_bracket(shoot / "b0", _frames(scene))
    r = runner.invoke(app, ["merge", "-m", "color", "--batch", str(shoot), "-o", str(tmp_path / "out"),
                            "--pattern", "../../x_{name}.exr"])
    one_line(r, 2, "--pattern", "inside the output folder")
    r = runner.invoke(app, ["synth", str(tmp_path), str(tmp_path / "syn"), "--prefix", "../../x_"])
    one_line(r, 2, "--prefix")
    assert not list(tmp_path.parent.parent.glob("x_*"))


def test_a_failed_build_color_leaves_no_empty_folder(tmp_path, scene):
    nan = tmp_path / "nan.tif"
    tifffile.imwrite(nan, np.full((192, 256, 3), np.nan, np.float32), photometric="rgb")
    out = tmp_path / "cache"
    r = runner.invoke(app, ["build-color", str(nan), str(scene[1]), "--ev", "-2,0", "-o", str(out)])
    assert r.exit_code == 1 and "NaN" in r.stderr
    assert not out.exists()


def test_ctrl_c_on_parallel_batch_with_previews_is_quiet_and_the_rerun_completes(tmp_path):
    from test_batch import make_shoot, no_partials

    shoot = make_shoot(tmp_path / "shoot", n=10, size=(384, 512))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "selfhdr_cli", "merge", "-m", "color", "--batch", str(shoot), "-o", str(out),
           "--jobs", "2", "--previews"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out.is_dir() and any(p.suffix == ".exr" for p in out.iterdir())):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, workers included
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "selfhdr: interrupted", err
    assert no_partials(out) == []
    rerun = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    summary = json.loads(rerun.stdout)
    assert summary["failed"] == 0 and summary["merged"] + summary["skipped"] == 10
    assert all((out / f"{p.stem}.png").is_file() for p in out.glob("*.exr"))


# ---- messages ----------------------------------------------------------------------------------

def test_messages_name_what_is_wrong(tmp_path, scene):
    r = runner.invoke(app, ["merge", str(scene[0].parent), "-o", str(tmp_path / "o.exr")])
    one_line(r, 2, "is a folder", "--batch")
    from selfhdr_cli.io.hdrfile import write_hdr_image

    pred = tmp_path / "pred.exr"
    write_hdr_image(pred, np.ones((8, 8, 3), np.float32))
    one_line(runner.invoke(app, ["evaluate", str(pred)]), 2, "pred.exr", "is a file")
    one_line(runner.invoke(app, ["evaluate", str(pred), str(tmp_path)]), 2, "is a file")
    one_line(runner.invoke(app, ["build-color", str(tmp_path / "nosuch")]), 2, "nosuch", "no such file")
    twice = runner.invoke(app, ["merge", str(scene[0]), str(scene[0]), str(scene[2]), "-o", str(tmp_path / "o.exr")])
    one_line(twice, 2, "given twice", scene[0].name)


def test_info_shows_16_bit_png_and_whole_paths(tmp_path):
    import cv2

    deep = tmp_path / ("a folder name long enough to be cut in a table" * 2)
    deep.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for k in range(3):
        p = deep / f"frame_{k}.png"
        cv2.imwrite(str(p), (np.clip(rng.random((32, 48, 3)) * 4 ** k / 16, 0, 1) * 65535).astype(np.uint16))
        paths.append(p)
    r = runner.invoke(app, ["info", *map(str, paths), "--ev", "-2,0,2", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["bit_depth"] == ["uint16"] * 3 and info["frames"] == [str(p) for p in paths]
    table = runner.invoke(app, ["info", *map(str, paths), "--ev", "-2,0,2"]).stdout
    assert "frame_0.png" in table.replace("\n", "").replace("│", "").replace(" ", "")


def test_an_output_never_replaces_an_input_frame(tmp_path, scene):
    """Even with --force: float TIFF outputs made a frame a possible output name."""
    before = scene[0].read_bytes()
    r = runner.invoke(app, ["merge", "-m", "color", *map(str, scene), "-o", str(scene[0].with_suffix(".tif")),
                            "--force"])
    one_line(r, 2, "the output is one of the input frames")
    assert scene[0].read_bytes() == before
    shoot = tmp_path / "shoot"
    write_bracket(shoot / "a_1", _frames(scene), names=("a_1.tif", "a_2.tif", "a_3.tif"))
    r = runner.invoke(app, ["merge", "-m", "color", "--batch", str(shoot), "-o", str(shoot / "a_1"),
                            "--pattern", "{name}.tif", "--json"])
    # refused before any merge: outputs written among the frames would be read as frames next time
    one_line(r, 2, "read as frames by the next run")
    assert sorted(p.name for p in (shoot / "a_1").iterdir()) == ["a_1.tif", "a_2.tif", "a_3.tif", "exposure.txt"]


def test_batch_patterns_are_checked_before_any_merge(tmp_path, scene):
    shoot = tmp_path / "shoot"
    write_bracket(shoot / "b0", _frames(scene))
    for pattern, needle in (("{name}", "HDR type"), ("{name}.png", "HDR type"), ("{name!r}.exr", "plain {name}"),
                            ("{name:>300}.exr", "plain {name}")):
        r = runner.invoke(app, ["merge", "-m", "color", "--batch", str(shoot), "-o", str(tmp_path / "out"),
                                "--pattern", pattern])
        one_line(r, 2, needle)


def test_raw_decoder_messages_stay_one_line(tmp_path):
    import subprocess as sp

    from test_raw import write_dng

    rng = np.random.default_rng(0)
    paths = [write_dng(tmp_path / f"{k}.dng", np.full((64, 96, 3), 0.05 * 4 ** k), 1 / 250 * 4 ** k, rng)
             for k in range(3)]
    trunc = tmp_path / "trunc.dng"
    trunc.write_bytes(paths[0].read_bytes()[:3000])
    r = sp.run([sys.executable, "-m", "selfhdr_cli", "merge", "-m", "color", str(trunc), *map(str, paths[1:]),
                "-o", str(tmp_path / "o.exr")], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and r.stderr.startswith("selfhdr: error:"), r.stderr
    assert "b'" not in r.stderr
