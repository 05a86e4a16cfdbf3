"""EXIF: the one reader of the tags selfhdr uses (exposure time, ISO, aperture, capture time).

JPEG, TIFF and DNG/TIFF-EP (whose tags may sit in IFD0: ``Image ExposureTime``). A file whose
EXIF cannot be parsed is not an error (many frames carry none), but the reason is kept, so that
what falls back because of it can say so.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import exifread


@dataclass(frozen=True)
class ExifTags:
    """What one file's EXIF says; None for each tag it lacks. ``unreadable``: why the EXIF could
    not be parsed at all (None when it could, or when the file has none)."""

    exposure_time: float | None = None  # seconds
    iso: float | None = None
    f_number: float | None = None
    capture_time: float | None = None  # seconds since the epoch (local time as written)
    unreadable: str | None = None


def read_exif(path: str | Path) -> ExifTags:
    """The EXIF tags of ``path`` (read once per file version: plans, notes and batches share it)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        return ExifTags(unreadable=exc.strerror or "cannot read")
    return _read(os.fspath(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _read(path: str, mtime_ns: int, size: int) -> ExifTags:
    logging.getLogger("exifread").setLevel(logging.CRITICAL)  # it logs its own parse problems
    try:
        with open(path, "rb") as fh:
            tags = exifread.process_file(fh, details=False)
    except OSError as exc:
        return ExifTags(unreadable=exc.strerror or "cannot read")
    except Exception as exc:  # exifread raises many types on malformed headers; the reason is kept
        return ExifTags(unreadable=f"malformed EXIF ({exc.__class__.__name__})")
    return ExifTags(
        exposure_time=_number(tags, ("EXIF ExposureTime", "Image ExposureTime")),
        iso=_number(tags, ("EXIF ISOSpeedRatings", "Image ISOSpeedRatings", "EXIF PhotographicSensitivity")),
        f_number=_number(tags, ("EXIF FNumber", "Image FNumber")),
        capture_time=_capture_time(tags))


def _number(tags: dict, keys: tuple[str, ...]) -> float | None:
    for key in keys:
        tag = tags.get(key)
        if tag is None or not tag.values:
            continue
        value = tag.values[0]
        try:
            number = float(value.num) / float(value.den) if hasattr(value, "den") else float(value)
        except (ZeroDivisionError, TypeError, ValueError):
            return None
        return number if math.isfinite(number) and number > 0 else None
    return None


def _capture_time(tags: dict) -> float | None:
    for key in ("EXIF DateTimeOriginal", "Image DateTime", "EXIF DateTimeDigitized"):
        if key in tags:
            try:
                stamp = datetime.datetime.strptime(str(tags[key]).strip(), "%Y:%m:%d %H:%M:%S")
            except ValueError:
                continue
            sub = tags.get("EXIF SubSecTimeOriginal")
            frac = float(f"0.{str(sub).strip()}") if sub is not None and str(sub).strip().isdigit() else 0.0
            return stamp.timestamp() + frac
    return None
