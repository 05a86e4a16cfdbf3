"""Property-based fuzzing of the input layer: every case merges or fails with one line,
never a traceback, never a partial output file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
import tifffile
from hypothesis import HealthCheck, given, settings
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
