"""HDR files: exact EXR round trip, RGBE tolerance, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

from selfhdr_cli.errors import InputFileError, UsageError
from selfhdr_cli.io.atomic import atomic_path, check_output_path
from selfhdr_cli.io.hdrfile import read_hdr_image, write_hdr_image


def test_exr_float32_round_trip_is_exact(tmp_path):
    img = np.random.default_rng(0).random((7, 9, 3), dtype=np.float32) * 50
    write_hdr_image(tmp_path / "a.exr", img)
    np.testing.assert_array_equal(read_hdr_image(tmp_path / "a.exr"), img)


def test_hdr_round_trip_within_rgbe_precision(tmp_path):
    img = np.random.default_rng(1).random((7, 9, 3), dtype=np.float32) * 3 + 0.1
    write_hdr_image(tmp_path / "a.hdr", img)
    back = read_hdr_image(tmp_path / "a.hdr")
    assert back.shape == img.shape
    assert np.max(np.abs(back - img) / img.max(axis=2, keepdims=True)) < 0.01  # RGBE: ~1 % of the max channel


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.exr"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_check_output_path(tmp_path):
    (tmp_path / "e.exr").write_bytes(b"")
    with pytest.raises(UsageError, match="already exists"):
        check_output_path(tmp_path / "e.exr")
    assert check_output_path(tmp_path / "e.exr", force=True)
    with pytest.raises(UsageError, match="does not exist"):
        check_output_path(tmp_path / "no" / "e.exr")


def test_corrupt_hdr_is_an_input_error(tmp_path):
    (tmp_path / "bad.exr").write_bytes(b"\x76\x2f\x31\x01 nonsense")
    with pytest.raises(InputFileError):
        read_hdr_image(tmp_path / "bad.exr")
