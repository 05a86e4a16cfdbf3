"""Decoding: bit depths, formats, channel layouts, size cap."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tifffile

from selfhdr_cli.errors import InputFileError, UsageError
from selfhdr_cli.io.frames import probe_size, read_ldr


def ramp(h=6, w=10):
    return np.linspace(0, 1, h * w * 3, dtype=np.float32).reshape(h, w, 3)


@pytest.mark.parametrize("dtype,scale", [(np.uint8, 255), (np.uint16, 65535)])
def test_tiff_and_png_integer_depths(tmp_path, dtype, scale):
    data = np.round(ramp() * scale).astype(dtype)
    tifffile.imwrite(tmp_path / "a.tif", data, photometric="rgb")
    cv2.imwrite(str(tmp_path / "a.png"), data[:, :, ::-1])
    for name in ("a.tif", "a.png"):
        img = read_ldr(tmp_path / name)
        assert img.dtype == np.float32 and img.shape == (6, 10, 3)
        np.testing.assert_allclose(img, data / scale, atol=1e-7)  # RGB order kept


def test_float_tiff_out_of_range_is_refused_naming_the_range(tmp_path):
    data = ramp() * 1.5 - 0.25  # an unnormalised (or HDR) image is not an LDR frame: clipping it lies
    tifffile.imwrite(tmp_path / "f.tif", data.astype(np.float32), photometric="rgb")
    with pytest.raises(InputFileError, match=r"from -0.25 to 1.25"):
        read_ldr(tmp_path / "f.tif")
    tifffile.imwrite(tmp_path / "ok.tif", (ramp() * (1 + 5e-4)).astype(np.float32), photometric="rgb")
    assert read_ldr(tmp_path / "ok.tif").max() == 1.0  # rounding just above 1 is clipped


def test_gray_and_alpha(tmp_path):
    gray = (ramp()[:, :, 0] * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    img = read_ldr(tmp_path / "g.png")
    assert img.shape == (6, 10, 3) and np.all(img[..., 0] == img[..., 2])
    rgba = np.dstack([(ramp() * 255).astype(np.uint8), np.full((6, 10), 7, np.uint8)])
    tifffile.imwrite(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=[2])
    np.testing.assert_allclose(read_ldr(tmp_path / "a.tif"), rgba[:, :, :3] / 255.0, atol=1e-7)


def test_jpeg(tmp_path):
    cv2.imwrite(str(tmp_path / "j.jpg"), np.full((16, 16, 3), (10, 128, 250), np.uint8))
    img = read_ldr(tmp_path / "j.jpg")
    assert abs(img[..., 0].mean() - 250 / 255) < 0.03 and abs(img[..., 2].mean() - 10 / 255) < 0.03


def tiny_tiff_claiming(path, width, height):
    """A 100-byte TIFF whose header claims width×height RGB pixels (a decompression bomb)."""
    import struct

    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 2),
            (273, 4, 8 + 2 + 12 * 9 + 4), (277, 3, 3), (278, 4, height), (279, 4, width * height * 3)]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", t, typ, 1, v) for t, typ, v in tags)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 16)
    return path


def test_size_cap_uses_header_only(tmp_path):
    path = tiny_tiff_claiming(tmp_path / "bomb.tif", 20000, 20000)
    assert probe_size(path) == (20000, 20000)
    with pytest.raises(InputFileError, match="cap"):
        read_ldr(path, pixel_cap=10_000_000)


def test_unsupported_and_missing(tmp_path):
    with pytest.raises(UsageError, match="unsupported"):
        probe_size(tmp_path / "x.bmp")
    with pytest.raises(UsageError, match="no such file"):
        probe_size(tmp_path / "x.png")


def test_png_header_gives_size_and_depth_without_a_third_party_limit(tmp_path):
    """PNG size and bit depth come from IHDR: a 16-bit RGB PNG reports uint16, and a 195 MP header
    (over Pillow's 179 MP bomb limit, under our 200 MP cap) is measured, not refused by Pillow."""
    import struct
    import zlib

    import cv2

    from selfhdr_cli.io.frames import bit_depth

    small = tmp_path / "16bit.png"
    cv2.imwrite(str(small), np.full((20, 30, 3), 40000, np.uint16))
    assert bit_depth(small) == "uint16" and probe_size(small) == (20, 30)
    big = tmp_path / "big.png"
    ihdr = struct.pack(">IIBBBBB", 15000, 13000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)
    assert probe_size(big) == (13000, 15000)
