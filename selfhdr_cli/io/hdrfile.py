"""Reading and writing HDR images: Radiance .hdr (RGBE), OpenEXR .exr and float TIFF.

Arrays are float32 (H, W, 3) RGB, linear, non-negative. Writes are atomic.
OpenEXR comes from the ``openexr`` package because OpenCV 5 has no EXR writer.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import tifffile

from selfhdr_cli.errors import InputFileError, UsageError
from selfhdr_cli.io.atomic import atomic_path, write_bytes_atomic
from selfhdr_cli.io.native import decoder_reason, native_stderr_silenced

HDR_SUFFIXES = (".hdr", ".exr", ".tif", ".tiff")
HALF_MAX = 65504.0  # the largest finite float16


def _clean(image: np.ndarray) -> np.ndarray:
    # one copy at most (the caller's array is left alone); 24 MP images make every copy count
    img = np.array(image, dtype=np.float32, order="C", copy=True)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got {img.shape}")
    np.nan_to_num(img, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    np.maximum(img, 0.0, out=img)
    return img


def check_half(path: str | Path, half: bool) -> None:
    """Refuse ``half`` for an output type without float16 (``.hdr`` is always 8-bit RGBE)."""
    if half and Path(path).suffix.lower() == ".hdr":
        raise UsageError("--half applies to .exr and .tif output (a .hdr file is always 8-bit RGBE)", path)


def write_hdr_image(path: str | Path, image: np.ndarray, half: bool = False, force: bool = True) -> None:
    """Write linear HDR to ``.hdr`` (Radiance RGBE) or ``.exr`` (float32, or float16 with ``half``), atomically;
    without ``force`` the file must not exist when it is put in place (``atomic_path``).

    ``image``: (H, W, 3) RGB, any float dtype; NaN/inf become 0 and negatives 0. The
    caller's array is not modified.
    """
    write_outputs(path, image, half=half, force=force)


def write_outputs(path: str | Path, image: np.ndarray, half: bool = False, force: bool = True,
                  preview: str | Path | None = None, preview_u8: np.ndarray | None = None) -> None:
    """Write the HDR ``image`` to ``path`` and, given, the 8-bit ``preview_u8`` (H, W, 3) to the PNG
    ``preview``, as one unit: both are written to temporary files first, and only when both are
    complete are they put in place (the preview first, so an existing HDR output means a complete
    pair). A failure (disk full, a bad value) leaves neither new file, and with ``force`` neither
    old one replaced. ``half``, ``force`` and ``image`` as in ``write_hdr_image``."""
    path = Path(path)
    suffix = path.suffix.lower()
    check_half(path, half)
    if suffix not in HDR_SUFFIXES:
        raise UsageError(f"unsupported HDR output type {suffix or '(none)'}; use .exr, .hdr or .tif", path)
    img = _clean(image)
    if half and img.size and float(img.max()) > HALF_MAX:  # float16 would store +inf there
        raise UsageError(f"--half: the image reaches {float(img.max()):.4g}, above float16's largest value "
                         f"{HALF_MAX:g}; write float32 (leave --half out)", path)
    with ExitStack() as unit:
        hdr_tmp = unit.enter_context(atomic_path(path, force))  # exits (is put in place) last
        if preview is not None:
            png_tmp = unit.enter_context(atomic_path(preview, force))
            _write_file(png_tmp, png_bytes(preview_u8))
        _write_hdr_to(hdr_tmp, suffix, img, half)


def _write_hdr_to(tmp: Path, suffix: str, img: np.ndarray, half: bool) -> None:
    if suffix == ".hdr":
        ok, buf = cv2.imencode(".hdr", img[:, :, ::-1].copy())
        if not ok:
            raise OSError("RGBE encoding failed")
        _write_file(tmp, buf.tobytes())
    elif suffix == ".exr":
        pixels = np.ascontiguousarray(img.astype(np.float16) if half else img)
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        try:
            OpenEXR.File(header, {"RGB": pixels}).write(str(tmp))
        except OSError:
            raise
        except Exception as exc:  # the EXR library reports a failed write (disk full) as its own error
            raise OSError(decoder_reason(exc)) from None
    else:
        pixels = np.ascontiguousarray(img.astype(np.float16) if half else img)
        # float samples, RGB, Deflate: what tifffile, OpenCV and image editors read
        tifffile.imwrite(tmp, pixels, photometric="rgb", compression="zlib")


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def png_bytes(image_u8: np.ndarray) -> bytes:
    """An 8-bit RGB image (H, W, 3) uint8 encoded as PNG."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image_u8[:, :, ::-1]))
    if not ok:
        raise OSError("PNG encoding failed")
    return buf.tobytes()


def read_hdr_image(path: str | Path) -> np.ndarray:
    """Read a ``.hdr`` or ``.exr`` file to float32 (H, W, 3) linear RGB (a grey EXR is repeated
    to three channels). Raises UsageError for a missing file, InputFileError for a bad one."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise UsageError("no such file", path)
    try:
        if suffix == ".hdr":
            with native_stderr_silenced():  # OpenCV's own [ERROR] line on a corrupt file
                img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise ValueError("not a Radiance RGBE file")
            img = img[:, :, ::-1]
        elif suffix == ".exr":
            # OpenEXR prints its own lines about a damaged file, on stderr and on stdout
            with native_stderr_silenced((1, 2)), OpenEXR.File(str(path)) as exr:
                channels = exr.channels()
                if "RGB" in channels or "RGBA" in channels:
                    img = (channels.get("RGB") or channels["RGBA"]).pixels[..., :3]
                elif all(c in channels for c in ("R", "G", "B")):
                    img = np.stack([channels[c].pixels for c in ("R", "G", "B")], axis=-1)
                elif "Y" in channels:
                    img = np.repeat(channels["Y"].pixels[..., None], 3, axis=-1)
                else:
                    raise ValueError(f"no RGB channels (has {', '.join(sorted(channels))})")
        elif suffix in (".tif", ".tiff"):
            img = tifffile.imread(path)
            if img.dtype.kind != "f":
                raise ValueError(f"{img.dtype} samples: an HDR TIFF holds float samples")
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=-1)
            img = img[..., :3]
        else:
            raise UsageError(f"unsupported HDR type {suffix or '(none)'}; use .exr, .hdr or .tif", path)
    except UsageError:
        raise
    except Exception as exc:
        raise InputFileError(f"corrupt or unreadable HDR image ({decoder_reason(exc)})", path) from None
    return np.ascontiguousarray(np.asarray(img, dtype=np.float32))


def write_png(path: str | Path, image_u8: np.ndarray, force: bool = True) -> None:
    """Write an 8-bit RGB image (H, W, 3) uint8 to PNG atomically (``force``: as ``write_hdr_image``)."""
    write_bytes_atomic(path, png_bytes(image_u8), force)
