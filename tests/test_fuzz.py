"""Property-based fuzzing of the input layer: every case merges or fails with one line,
never a traceback, never a partial output file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import tifffile
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from selfhdr_cli.cli import app

runner = CliRunner()


@st.composite
def frame_specs(draw):
    fmt = draw(st.sampled_from(["tif", "png", "jpg"]))
    dtype = {"tif": st.sampled_from(["uint8", "uint16", "float32"]), "png": st.sampled_from(["uint8", "uint16"]),
             "jpg": st.just("uint8")}[fmt]
    channels = {"jpg": st.sampled_from([1, 3])}.get(fmt, st.sampled_from([1, 2, 3, 4]))
    return fmt, draw(dtype), draw(channels)


def write_frame(path: Path, shape, dtype: str, channels: int, level: float, rng) -> None:
    h, w = shape
    base = np.clip(rng.random((h, w, channels)) * 0.5 + level, 0, 1)
    if dtype == "uint8":
        data = np.round(base * 255).astype(np.uint8)
    elif dtype == "uint16":
        data = np.round(base * 65535).astype(np.uint16)
    else:
        data = (base * 1.2 - 0.1).astype(np.float32)
    if channels == 1:
        data = data[:, :, 0]
    if path.suffix == ".tif":
        photometric = "minisblack" if channels <= 2 else "rgb"
        extras = {"extrasamples": [2]} if channels in (2, 4) else {}
        tifffile.imwrite(path, data, photometric=photometric, **extras)
    else:
        if channels == 2:  # OpenCV writes 1, 3 or 4 channels
            data = data[:, :, 0]
        ok, buf = cv2.imencode(path.suffix, data)
        path.write_bytes(buf.tobytes())


def corrupt(path: Path, mode: str, rng) -> None:
    data = bytearray(path.read_bytes())
    if mode == "truncate":
        path.write_bytes(bytes(data[: int(len(data) * rng.uniform(0.05, 0.9))]))
    elif mode == "flip":
        for i in rng.integers(0, len(data), size=8):
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))
    elif mode == "empty":
        path.write_bytes(b"")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.sampled_from([1, 2, 3, 3, 4]),
    shape=st.tuples(st.integers(8, 40), st.integers(8, 40)),
    specs=st.lists(frame_specs(), min_size=4, max_size=4),
    same_size=st.sampled_from([True, True, True, False]),
    exposures=st.one_of(st.just("valid"), st.just("valid"), st.none(),
                        st.lists(st.sampled_from([-3.0, -2.0, 0.0, 0.0, 1.0, 2.0, 4.0]), min_size=1, max_size=5)),
    damage=st.sampled_from(["none", "none", "none", "truncate", "flip", "empty"]),
    method=st.sampled_from(["debevec", "color"]),
    seed=st.integers(0, 2 ** 16),
)
def test_every_input_merges_or_fails_cleanly(n, shape, specs, same_size, exposures, damage, method, seed):
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = []
        for k in range(n):
            fmt, dtype, channels = specs[k]
            size = shape if same_size or k == 0 else (shape[0] + k, shape[1])
            path = folder / f"f{k}.{fmt}"
            write_frame(path, size, dtype, channels, 0.15 * k, rng)
            paths.append(path)
        if damage != "none":
            corrupt(paths[int(rng.integers(0, n))], damage, rng)
        out = folder / "out.exr"
        args = ["merge", "-m", method, *map(str, paths), "-o", str(out)]
        if exposures == "valid":
            exposures = [2.0 * k for k in range(n)]
        if exposures is not None:
            args += ["--ev", ",".join(f"{e:g}" for e in exposures)]
        result = runner.invoke(app, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert "Traceback" not in result.output
        assert result.exit_code in (0, 1, 2)
        assert not [p for p in folder.iterdir() if ".part" in p.name]
        if result.exit_code == 0:
            assert out.is_file()
        else:
            assert not out.exists()
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("selfhdr: error:"), result.stderr


# ---- the output side, exposure files, response files -------------------------------------------

@st.composite
def output_cases(draw):
    suffix = draw(st.sampled_from([".exr", ".exr", ".hdr", ".tif", ".exr", ".hdr", ".png", "", ".EXR"]))
    where = draw(st.sampled_from(["here"] * 6 + ["missing-folder", "an-input", "a-folder", "dangling-link"]))
    preview = draw(st.sampled_from([None, None, "p.png", "p.png", "p.jpg", "same-as-output"]))
    existing = draw(st.sampled_from(["none"] * 4 + ["output", "preview", "both"]))
    return suffix, where, preview, existing, draw(st.booleans()), draw(st.booleans())


def exposure_file_text(draw_values, names):
    lines = []
    for name, value in zip(names, draw_values):
        lines.append(f"{name}\t{value}" if name else str(value))
    return "\n".join(lines) + "\n"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=output_cases(),
       exposure_file=st.one_of(st.none(), st.none(), st.tuples(
           st.lists(st.sampled_from(["1/250", "1/60", "1/15"] * 4 + ["0", "-1", "1e300", "abc", "1/0", "nan", "4e9", "1e-7"]),
                    min_size=1, max_size=4),
           st.sampled_from(["plain", "named", "bom+comments", "plain", "named", "empty"]))),
       crf=st.sampled_from([None] * 5 + ["ok", "ok", "negative", "huge", "flat", "nested", "short", "not-json"]),
       half_units=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_every_output_and_metadata_file_merges_or_fails_cleanly(case, exposure_file, crf, half_units, seed):
    suffix, where, preview_name, existing, force, half = case
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frames = []
        for k in range(3):
            path = folder / f"f{k}.tif"
            write_frame(path, (24, 32), "uint16", 3, 0.15 * k, rng)
            frames.append(path)
        out = {"here": folder / f"out{suffix}", "missing-folder": folder / "nope" / f"out{suffix}",
               "an-input": frames[1], "a-folder": folder, "dangling-link": folder / f"link{suffix}"}[where]
        if where == "dangling-link":
            out.symlink_to(folder / "gone" / "x.exr")
        preview = None if preview_name is None else (out if preview_name == "same-as-output" else folder / preview_name)
        if existing in ("output", "both") and where == "here":
            out.write_bytes(b"old output")
        if existing in ("preview", "both") and preview is not None and preview != out:
            preview.write_bytes(b"old preview")
        before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}
        args = ["merge", "-m", "color", *map(str, frames), "-o", str(out)]
        if preview is not None:
            args += ["--preview", str(preview)]
        args += ["--force"] if force else []
        args += ["--half"] if half else []
        if exposure_file is not None:
            values, style = exposure_file
            values = sorted((values * 3)[:3], key=lambda v: {"1/250": 0, "1/60": 1, "1/15": 2}.get(v, 3))
            text = {"plain": exposure_file_text(values, [None] * 3),
                    "named": exposure_file_text(values, [f.name for f in frames]),
                    "bom+comments": "\ufeff# times\n" + exposure_file_text(values, [None] * 3) + "# end\n",
                    "empty": "# nothing\n"}[style]
            (folder / "times.txt").write_text(text, encoding="utf-8")
            args += ["--exposures", str(folder / "times.txt")]
            if half_units:
                args += ["--units", "seconds"]
        else:
            args += ["--ev", "0,2,4"]
        if crf is not None:
            levels = np.linspace(0, 1, 256)
            curves = {"ok": levels ** 2.2, "negative": levels - 0.5, "huge": levels * 1e9, "flat": levels * 0,
                      "short": levels[:1]}.get(crf)
            body = {"nested": "[" * 5000 + "]" * 5000, "not-json": "gamma 2.2"}.get(crf)
            if body is None:
                body = json.dumps({"curves": {c: [float(v) for v in curves] for c in "rgb"}})
            (folder / "camera.json").write_text(body)
            args += ["--crf", str(folder / "camera.json"), "--trust-exposures"]
        result = runner.invoke(app, args)
        event(f"exit {result.exit_code}")
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert "Traceback" not in result.output
        assert result.exit_code in (0, 1, 2)
        assert not [p for p in folder.rglob("*") if ".part" in p.name]
        for f in frames:  # an input is never touched
            assert f.read_bytes() == before[f.name]
        if result.exit_code == 0:
            from selfhdr_cli.io.hdrfile import read_hdr_image

            hdr = read_hdr_image(out)
            assert np.all(np.isfinite(hdr)) and hdr.max() > 0  # never a wrong result at exit 0
            if preview is not None:
                assert preview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("selfhdr: error:"), result.stderr
            for name, data in before.items():  # a failure replaces nothing, --force or not
                assert (folder / name).read_bytes() == data, name
