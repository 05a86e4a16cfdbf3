"""Decoding LDR frames: 8/16-bit TIFF, PNG, JPEG and float TIFF to RGB float32.

Output contract: float32, shape (H, W, 3), RGB, values in [0, 1] (uint8 / 255,
uint16 / 65535, float clipped). The size is read from the header and checked
against a pixel cap before any decoding, against decompression bombs.

Libraries: TIFF through tifffile (exact for 8/16-bit and float); JPEG headers through
imageio; PNG headers read directly (24 bytes of IHDR: Pillow under imageio refuses headers
above 179 MP, below our own cap); PNG and JPEG pixels through OpenCV, because imageio's
Pillow plugin reduces a 16-bit RGB PNG to 8 bits (measured with imageio 2.38) while
OpenCV keeps all 16.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import cv2
import imageio.v3 as iio
import imagecodecs
import numpy as np
import tifffile

from selfhdr_cli.errors import InputFileError, UsageError
from selfhdr_cli.io.native import decoder_reason, native_stderr_silenced
from selfhdr_cli.io.raw import RAW_SUFFIXES, RawOptions, raw_size, read_raw

DEFAULT_MAX_PIXELS = 200_000_000  # ~200 MP: far above any camera, far below a bomb
FLOAT_SLACK = 1e-3  # float frames may overshoot [0, 1] by rounding; beyond this they are not LDR frames
MIN_BITS = 8  # fewer bits per sample (1-, 2-, 4-bit PNG) is a drawing or a mask, not an exposure
SUPPORTED = (".tif", ".tiff", ".png", ".jpg", ".jpeg") + RAW_SUFFIXES


def frame_files(folder: Path) -> list[Path]:
    """The LDR frame files directly in ``folder`` (TIFF/PNG/JPEG, not hidden), in name order."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.suffix.lower() in SUPPORTED and p.is_file() and not p.name.startswith("."))


def max_pixels() -> int:
    """The pixel cap: ``SELFHDR_MAX_PIXELS`` from the environment (a positive integer), else 200 MP."""
    text = os.environ.get("SELFHDR_MAX_PIXELS")
    if text is None:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"SELFHDR_MAX_PIXELS={text!r}: expected a positive number of pixels, e.g. 300000000")
    return value


def pixel_count(pixels: int) -> str:
    """A pixel count for messages: ``200 MP``, ``0.5 MP``, or ``100 pixels`` for tiny caps."""
    if pixels >= 10_000_000:
        return f"{pixels / 1e6:.0f} MP"
    if pixels >= 100_000:
        return f"{pixels / 1e6:.2g} MP"
    return f"{pixels} pixels"


def _quiet_decoders() -> None:
    # tifffile logs warnings about odd tags on stderr; our one-line error says what matters
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)


def probe_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header, without decoding pixels."""
    path = Path(path)
    _quiet_decoders()
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise UsageError(f"unsupported frame format {suffix or '(none)'}; use TIFF, PNG, JPEG or camera RAW "
                         f"({', '.join(s[1:].upper() for s in RAW_SUFFIXES)})", path)
    if not path.exists():
        raise UsageError("no such file", path)
    if not path.is_file():
        raise UsageError("not a file", path)
    if suffix in RAW_SUFFIXES:
        return raw_size(path)
    try:
        if suffix in (".tif", ".tiff"):
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                return int(page.imagelength), int(page.imagewidth)
        if suffix == ".png":
            return _png_size(path)  # exact and header-only, with no third-party limit below our own cap
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's bomb warning: our own cap applies, with our own message
            props = iio.improps(path)
        return int(props.shape[0]), int(props.shape[1])
    except InputFileError:
        raise
    except Exception as exc:  # any decoder failure means the header is unusable
        if "decompression bomb" in str(exc).lower():  # Pillow (under imageio) refuses JPEG headers over 179 MP
            raise InputFileError("JPEG image over 179 MP, too large to read safely", path) from None
        raise InputFileError(f"not a readable {suffix[1:].upper()} image ({decoder_reason(exc)})", path) from None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_header(path: Path) -> bytes:
    """The first 26 bytes: signature, IHDR length and type, width, height, bit depth, color type
    (PNG spec §11.2.2)."""
    with open(path, "rb") as fh:
        header = fh.read(26)
    if len(header) < 26 or not header.startswith(_PNG_SIGNATURE) or header[12:16] != b"IHDR":
        raise ValueError("no PNG signature and IHDR chunk")
    return header


def _png_size(path: Path) -> tuple[int, int]:
    header = _png_header(path)
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    if width == 0 or height == 0:
        raise ValueError("zero width or height")
    palette = header[25] == 3  # a palette's indices may be 1-8 bits; its colors are 8-bit
    if header[24] < MIN_BITS and not palette:
        raise InputFileError(f"{header[24]}-bit PNG: a frame needs at least {MIN_BITS} bits per sample", path)
    return height, width


def _normalise(raw: np.ndarray, path: Path) -> np.ndarray:
    if raw.ndim == 2:
        raw = raw[:, :, None]
    if raw.ndim != 3 or raw.shape[2] not in (1, 2, 3, 4):
        raise InputFileError(f"unsupported image layout {raw.shape}", path)
    if raw.shape[2] in (2, 4):  # drop alpha
        raw = raw[:, :, :-1]
    if raw.shape[2] == 1:
        raw = np.repeat(raw, 3, axis=2)
    if raw.dtype in (np.uint8, np.uint16):  # in place, C order: one full-size float copy, not three
        img = raw.astype(np.float32, order="C")
        img /= np.float32(255.0 if raw.dtype == np.uint8 else 65535.0)
    elif raw.dtype.kind == "f":
        img = raw.astype(np.float32)
        bad = ~np.isfinite(img)
        if bad.any():  # NaN read as black would merge silently into a wrong result
            raise InputFileError(f"{bad.mean():.1%} of the values are NaN or infinite; a frame needs finite "
                                 "values in [0, 1]", path)
        low, high = float(img.min()), float(img.max())
        if low < -FLOAT_SLACK or high > 1 + FLOAT_SLACK:  # an HDR or unnormalised image, not a frame
            raise InputFileError(f"float values run from {low:.4g} to {high:.4g}; a frame needs values in [0, 1] "
                                 "(an LDR exposure, not an HDR image)", path)
        img = np.clip(img, 0.0, 1.0)
    else:
        raise InputFileError(f"unsupported sample type {raw.dtype}; use 8/16-bit or float", path)
    return np.ascontiguousarray(img)


def read_ldr(path: Path, pixel_cap: int | None = None, raw_options: RawOptions | None = None) -> np.ndarray:
    """Decode one LDR frame.

    Parameters
    ----------
    path : Path
        8/16-bit TIFF, PNG or JPEG, or float TIFF; grey, RGB, with or without alpha; or camera
        RAW (``io.raw``: developed linearly, then encoded with the default response).
    pixel_cap : int, optional
        Refuse images over this many pixels, read from the header before decoding
        (default: ``max_pixels()``).
    raw_options : RawOptions
        White balance and color space for RAW frames (required for them: a RAW frame without
        them is a ValueError, never a silent choice).

    Returns
    -------
    ndarray, float32 (H, W, 3), RGB, in [0, 1]: uint8 / 255, uint16 / 65535, float clipped
    (NaN or infinite values are refused). Alpha is dropped; grey is repeated to three channels.

    Raises InputFileError (one line naming the file) on anything unreadable.
    """
    path = Path(path)
    cap = max_pixels() if pixel_cap is None else pixel_cap
    height, width = probe_size(path)
    if height * width > cap:
        raise InputFileError(f"image is {width}x{height} = {height * width / 1e6:.0f} MP, over the "
                             f"{pixel_count(cap)} cap (set SELFHDR_MAX_PIXELS to raise it)", path)
    suffix = path.suffix.lower()
    if suffix in RAW_SUFFIXES:
        if raw_options is None:
            raise ValueError(f"{path}: a RAW frame needs raw_options (white balance and color space)")
        developed = read_raw(path, raw_options)
        if developed.shape[:2] != (height, width):
            raise InputFileError("decoded size differs from the header", path)
        return developed
    try:
        if suffix in (".tif", ".tiff"):
            raw = _read_tiff(path)
        else:
            buf = np.fromfile(path, dtype=np.uint8)
            if suffix in (".jpg", ".jpeg") and not _has_jpeg_end(buf):
                raise InputFileError("truncated JPEG (no end-of-image marker): incomplete, or still being "
                                     "copied", path)
            with native_stderr_silenced():
                raw = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            if raw is None:
                raise ValueError("decoder returned nothing")
            if raw.ndim == 3 and raw.shape[2] >= 3:  # OpenCV decodes BGR(A)
                raw = raw[:, :, [2, 1, 0] + list(range(3, raw.shape[2]))]
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(f"corrupt or unreadable image ({decoder_reason(exc)})", path) from None
    if raw.shape[0] != height or raw.shape[1] != width:
        raise InputFileError("decoded size differs from the header", path)
    return _normalise(raw, path)


UNSUPPORTED_PHOTOMETRIC = {3: "a palette", 5: "CMYK (separated)", 4: "a transparency mask"}


def _read_tiff(path: Path) -> np.ndarray:
    """The first page of a TIFF, decompressed (LZW, Deflate, JPEG, ... through imagecodecs).

    A file that is valid but uses a feature no decoder here supports is told apart from a
    corrupt one: libtiff (imagecodecs) is tried as a second reader, and if both fail on a
    feature, the error says so."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            photometric = page.photometric
            _check_complete(page, path)
            raw = page.asarray()
    except (NotImplementedError, ValueError, KeyError) as exc:
        feature = _unsupported_feature(exc)
        if feature is None:
            raise
        try:  # libtiff (through imagecodecs) knows some old variants that tifffile does not
            with native_stderr_silenced():
                return imagecodecs.tiff_decode(path.read_bytes())
        except Exception:
            raise InputFileError(f"valid TIFF, but it uses a feature this tool cannot decode ({feature})",
                                 path) from None
    if int(photometric) in UNSUPPORTED_PHOTOMETRIC:  # indices or ink, not light: merging them would be wrong
        raise InputFileError(f"valid TIFF, but its color model is {UNSUPPORTED_PHOTOMETRIC[int(photometric)]}; "
                             "convert it to RGB or grey", path)
    if raw.ndim == 3 and raw.shape[0] in (3, 4) and raw.shape[2] not in (1, 2, 3, 4):
        raw = np.moveaxis(raw, 0, -1)  # planar storage
    if int(photometric) == 0 and raw.dtype.kind == "u":  # MINISWHITE
        raw = np.iinfo(raw.dtype).max - raw
    return raw


def _check_complete(page, path: Path) -> None:
    """Refuse a TIFF whose image data is not all in the file: a strip or tile that ends past the
    end (cut short, or still being copied) or has no bytes (what a failed write leaves), which
    decoders read as black or garbage without a word."""
    size = path.stat().st_size
    for offset, count in zip(page.dataoffsets, page.databytecounts):
        if count == 0 or offset + count > size:
            what = "has no bytes" if count == 0 else f"ends at byte {offset + count} of {size}"
            raise InputFileError(f"incomplete TIFF: its image data {what} (cut short, or still being copied)",
                                 path)


def _has_jpeg_end(buf: np.ndarray) -> bool:
    """Whether a JPEG's end-of-image marker (FF D9) is near the end of the file (trailing bytes after
    it are common; a truncated file has none)."""
    tail = buf[-JPEG_TAIL:].tobytes()
    return b"\xff\xd9" in tail


JPEG_TAIL = 65536  # bytes searched for the end marker: cameras append previews and padding after it


def _unsupported_feature(exc: Exception) -> str | None:
    """The unsupported feature a tifffile error names (a codec, a sample format), or None when
    the error is about a damaged file."""
    text = decoder_reason(exc)
    lowered = text.lower()
    if isinstance(exc, NotImplementedError) or "requires" in lowered or "not supported" in lowered \
            or "unsupported" in lowered or "compression" in lowered:
        return text
    return None


def bit_depth(path: Path) -> str:
    """The stored sample type, e.g. ``uint16``, for reports (from the header only)."""
    suffix = Path(path).suffix.lower()
    if suffix in RAW_SUFFIXES:
        return "raw"
    if suffix in (".tif", ".tiff"):
        with tifffile.TiffFile(path) as tif:
            return str(tif.pages[0].dtype)
    if suffix == ".png":
        return "uint16" if _png_header(path)[24] == 16 else "uint8"
    return "uint8"  # baseline JPEG


def quantise(ldr: np.ndarray, bits: int) -> np.ndarray:
    """LDR float in [0, 1] (clipped) to uint8 (``bits`` 8) or uint16 (16) for writing; the inverse of decoding."""
    if bits == 8:
        return np.round(np.clip(ldr, 0, 1) * 255).astype(np.uint8)
    return np.round(np.clip(ldr, 0, 1) * 65535).astype(np.uint16)
