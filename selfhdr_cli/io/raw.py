"""Camera RAW frames (DNG, CR2/CR3, NEF, ARW, RAF, ORF, RW2) through LibRaw (rawpy).

Decoding is linear: black and white levels from the file, no gamma, no automatic
brightening, 16-bit demosaic, the camera's white balance (or none), output in linear
Rec.709/sRGB primaries (or the camera's own RGB). The linear values are then encoded with
the project's default response (g⁻¹ of gamma ``RAW_GAMMA`` = 2.2), so that everything
downstream — alignment, merges, networks trained on LDR frames — sees a RAW bracket as it
sees a 16-bit TIFF bracket, and g(I) gives back the linear value exactly. Saturation is the
file's white level: LibRaw maps it to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rawpy

from selfhdr_cli.errors import InputFileError, UsageError
from selfhdr_cli.io.native import decoder_reason, native_stderr_silenced

RAW_SUFFIXES = (".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2")
# RAW frames are handed on encoded with g⁻¹(L) = L^(1/RAW_GAMMA): the default --crf's inverse
# (radiometry.response.DEFAULT_GAMMA; io sits below radiometry, so a test ties the two)
RAW_GAMMA = 2.2
WHITE_BALANCES = ("camera", "none")
RAW_SPACES = ("srgb", "camera")


@dataclass(frozen=True)
class RawOptions:
    """How RAW frames are developed: ``white_balance`` ``camera`` (as shot) or ``none``
    (unit multipliers), ``space`` ``srgb`` (linear Rec.709/sRGB primaries) or ``camera`` (the
    sensor's RGB, no color matrix)."""

    white_balance: str
    space: str
    encoding_gamma: float  # developed values are handed on as L^(1/encoding_gamma): RAW_GAMMA, or 1 (linear)

    def __post_init__(self) -> None:
        if self.white_balance not in WHITE_BALANCES:
            raise UsageError(f"--wb {self.white_balance!r}: use {' or '.join(WHITE_BALANCES)}")
        if self.space not in RAW_SPACES:
            raise UsageError(f"--raw-space {self.space!r}: use {' or '.join(RAW_SPACES)}")
        if self.encoding_gamma not in (1.0, RAW_GAMMA):
            raise UsageError(f"RAW frames are encoded linearly or with gamma {RAW_GAMMA:g}, not "
                             f"{self.encoding_gamma!r}")


def _check_levels(raw, path: Path) -> None:
    """Refuse a file whose black level is not below its white level: every value would develop to
    black or to garbage."""
    blacks = [float(b) for b in raw.black_level_per_channel]
    white = float(raw.white_level)
    if not white > max(blacks):
        raise InputFileError(f"RAW black level {max(blacks):g} is not below the white level {white:g}", path)


def is_raw(path: str | Path) -> bool:
    return Path(path).suffix.lower() in RAW_SUFFIXES


def raw_size(path: Path) -> tuple[int, int]:
    """(height, width) of the developed image, from the file's metadata (nothing is demosaiced)."""
    try:
        with native_stderr_silenced(), rawpy.imread(str(path)) as raw:
            sizes = raw.sizes
    except Exception as exc:
        raise InputFileError(f"not a readable RAW file ({decoder_reason(exc)})", path) from None
    height, width = int(sizes.height), int(sizes.width)
    if sizes.flip in (5, 6):  # rotated by 90°: the developed image is transposed
        height, width = width, height
    if height <= 0 or width <= 0:
        raise InputFileError("RAW file without an image size", path)
    return height, width


def read_raw(path: Path, options: RawOptions) -> np.ndarray:
    """Develop a RAW frame: float32 (H, W, 3) RGB in [0, 1], linear values encoded as
    L^(1/options.encoding_gamma)."""
    try:
        with native_stderr_silenced(), rawpy.imread(str(path)) as raw:
            _check_levels(raw, path)
            developed = raw.postprocess(
                # adjust_maximum_thr=0: LibRaw's default rescales a frame whose raw maximum is near the
                # white level (a bracket's short frame, as a rule), which breaks the exposure ratios
                gamma=(1, 1), no_auto_bright=True, output_bps=16, adjust_maximum_thr=0.0,
                use_camera_wb=options.white_balance == "camera",
                user_wb=[1.0, 1.0, 1.0, 1.0] if options.white_balance == "none" else None,
                output_color=rawpy.ColorSpace.sRGB if options.space == "srgb" else rawpy.ColorSpace.raw)
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(f"corrupt or unreadable RAW file ({decoder_reason(exc)})", path) from None
    linear = developed.astype(np.float32) / np.float32(65535.0)
    if options.encoding_gamma == 1.0:
        return np.ascontiguousarray(linear)
    return np.ascontiguousarray(np.power(linear, np.float32(1.0 / options.encoding_gamma)))
