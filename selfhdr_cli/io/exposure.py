"""Exposure metadata: where each frame's exposure time comes from.

Sources, in priority order: ``--exposures`` (seconds), ``--ev`` (stops), an
``exposure.txt`` beside the frames (Kalantari layout: one EV per line, lines in
file-name order), EXIF ExposureTime. Times are positive floats; EV stops map to
t = 2^EV (SPEC §1).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from selfhdr_cli.errors import InputFileError, UsageError
from selfhdr_cli.io.exif import read_exif
from selfhdr_cli.io.frames import frame_files

EXPOSURE_TXT = "exposure.txt"
MIN_SECONDS, MAX_SECONDS = 1e-7, 1e5  # what a camera can expose: beyond, float32 radiance overflows
MAX_SPAN_EV = 40  # longest / shortest exposure of one bracket, in stops: beyond, float32 radiance overflows


@dataclass(frozen=True)
class Exposures:
    """Exposure times for frames given in input order.

    ``times`` are positive; ``absolute`` says whether they are seconds (from
    ``--exposures`` or EXIF) or only relative (from EV stops). ``source`` names
    where they came from, for reports.
    """

    times: np.ndarray
    absolute: bool
    source: str
    note: str = ""  # when another source disagrees: which one was used, and what the other says
    warnings: tuple[str, ...] = ()  # estimated exposures: why the estimate is doubtful


def _split_list(text: str, flag: str) -> list[str]:
    items = [s.strip() for s in text.replace(";", ",").split(",")]
    if not items or any(not s for s in items):
        raise UsageError(f"{flag} {text!r}: expected a comma-separated list such as 1/60,1/15,1/4")
    return items


def parse_exposure_times(text: str) -> list[float]:
    """Parse ``--exposures``: seconds as fractions or decimals, e.g. ``1/60,1/15,0.25``."""
    times = []
    for item in _split_list(text, "--exposures"):
        try:
            value = float(Fraction(item))
        except (ValueError, ZeroDivisionError):
            raise UsageError(f"--exposures: {item!r} is not a time in seconds (e.g. 1/60 or 0.25)") from None
        if not math.isfinite(value) or value <= 0:
            raise UsageError(f"--exposures: {item!r} must be a positive time in seconds")
        times.append(value)
    return times


def parse_ev(text: str, flag: str = "--ev") -> list[float]:
    """Parse EV stops such as ``-2,0,2`` (t = 2^EV)."""
    stops = []
    for item in _split_list(text, flag):
        try:
            value = float(item)
        except ValueError:
            raise UsageError(f"{flag}: {item!r} is not a number of stops") from None
        if not math.isfinite(value) or abs(value) > 40:
            raise UsageError(f"{flag}: {item!r} is out of range (|EV| <= 40)")
        stops.append(value)
    return stops


def read_rows(path: Path) -> list[tuple[str | None, str]]:
    """The rows of an exposure file (``exposure.txt`` and ``--exposures FILE`` alike): per
    non-blank line, (name or None, value). A UTF-8 BOM, ``#`` comments and blank lines are
    skipped; the value is the line's last field, and a name is everything before it, so names
    may hold spaces (tab-separated, quoted or not)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError("is a folder, not an exposure file", path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # -sig: editors that start with a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read exposure file ({exc.__class__.__name__})", path) from None
    rows = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.rsplit(None, 1)
        name = fields[0].strip().strip("'\"").strip() if len(fields) == 2 else None
        rows.append((name or None, fields[-1]))
    if not rows:
        raise InputFileError("exposure file is empty", path)
    return rows


def read_exposure_txt(path: Path) -> list[float]:
    """Read a Kalantari ``exposure.txt``: one EV per line (``read_rows``: comments, BOM)."""
    stops = []
    for name, item in read_rows(path):
        if name is not None:
            raise InputFileError(f"expected one EV per line, found {name!r} {item!r}", path)
        try:
            value = float(item)
        except ValueError:
            raise InputFileError(f"{item!r} is not an EV value", path) from None
        if not math.isfinite(value) or abs(value) > 40:
            raise InputFileError(f"EV {item!r} is out of range (|EV| <= 40)", path)
        stops.append(value)
    return stops


def exif_exposure_time(path: Path) -> float | None:
    """EXIF ExposureTime in seconds, or None where the file carries none."""
    return read_exif(path).exposure_time


def why_no_exif_times(paths: Sequence[Path]) -> str:
    """Why EXIF gives no exposure times for this bracket: the first frame without one, and why."""
    for p in paths:
        tags = read_exif(p)
        if tags.unreadable:
            return f"the EXIF of {Path(p).name} is unreadable: {tags.unreadable}"
        if tags.exposure_time is None:
            return f"{Path(p).name} has no EXIF ExposureTime"
    return ""


def _exif_times(paths: Sequence[Path]) -> Exposures | None:
    """Exposure times from EXIF; where ISO or aperture also differ across the bracket they are
    folded in: t · ISO / ISO₀ · (N₀ / N)², in seconds at the first frame's ISO and aperture. When
    only some frames carry ISO or aperture they cannot be folded in: the note says so."""
    tags = [read_exif(p) for p in paths]
    if any(t.exposure_time is None for t in tags):
        return None
    times = np.asarray([t.exposure_time for t in tags], dtype=np.float64)
    source, notes = "EXIF ExposureTime", []
    for name, values, fold in (("ISO", [t.iso for t in tags], lambda v: np.asarray(v) / v[0]),
                               ("aperture", [t.f_number for t in tags], lambda v: (v[0] / np.asarray(v)) ** 2)):
        present = [v for v in values if v]
        if len(set(present)) <= 1:
            continue
        if len(present) == len(values):
            times = times * fold(values)
            source += f" × {name}"
        else:
            lacking = next(Path(p).name for p, v in zip(paths, values) if not v)
            notes.append(f"{name} differs across the bracket but {lacking} does not record it: not folded in")
    listing = ", ".join(f"{Path(p).name} {_seconds(t)}" for p, t in zip(paths, times))
    note = "; ".join([f"exposures from {source}: {listing}", *notes])
    return Exposures(times, True, source, note=note)


def _absolute(path: Path) -> Path:
    """Absolute and normalised, but symlinks kept: a linked frame belongs to the link's folder."""
    return Path(os.path.abspath(path))


def _from_exposure_txt(paths: Sequence[Path]) -> Exposures | None:
    folders = {_absolute(p).parent for p in paths}
    if len(folders) != 1:
        return None
    folder = folders.pop()
    txt = folder / EXPOSURE_TXT
    if not txt.is_file():
        return None
    stops = read_exposure_txt(txt)
    given = [_absolute(p) for p in paths]
    listing = frame_files(folder)
    if len(stops) == len(listing) and all(p in listing for p in given):
        by_name = dict(zip(listing, stops))
        chosen = [by_name[p] for p in given]
    elif len(stops) == len(given):
        order = sorted(range(len(given)), key=lambda i: given[i].name)
        chosen = [0.0] * len(given)
        for stop, i in zip(stops, order):
            chosen[i] = stop
    else:
        raise UsageError(
            f"has {len(stops)} exposures but {len(given)} frames were given "
            f"({len(listing)} images in the folder)", txt)
    return Exposures(np.power(2.0, np.asarray(chosen, dtype=np.float64)), False, f"{txt}")


ESTIMATED = "estimated"  # the source named when the times come from the pixels (no metadata, or --exposures auto)


def resolve_exposures(paths: Sequence[Path], exposures: str | None = None,
                      ev: str | None = None) -> Exposures | None:
    """Exposure times for ``paths`` (input order) from the first source that has them.

    ``exposures``: seconds inline (``1/60,1/15``), a text file of them (``read_exposure_file``),
    or ``auto``. Returns None when the times must be estimated from the pixels: with ``auto``,
    or when no source has them (``radiometry.exposure_ratio.estimate_exposures`` then).
    Raises UsageError when counts differ, or when two frames share an exposure time.
    """
    if exposures is not None and ev is not None:
        raise UsageError("give either --exposures or --ev, not both")
    if exposures is not None and exposures.strip().lower() == "auto":
        return None
    if exposures is not None and Path(exposures).is_dir():
        raise UsageError("is a folder, not an exposure file", exposures)
    if exposures is not None and Path(exposures).exists() and not Path(exposures).is_file():
        raise UsageError("not a regular file (an exposure file is text)", exposures)
    if exposures is not None and Path(exposures).is_file():
        result = Exposures(np.asarray(read_exposure_file(Path(exposures), paths)), True, str(exposures))
    elif exposures is not None and (Path(exposures).suffix or "/" in exposures) and not any(
            sep in exposures for sep in ",;"):
        raise UsageError("no such exposure file (or give the times inline: 1/60,1/15,1/4)", exposures)
    elif exposures is not None:
        result = Exposures(np.asarray(parse_exposure_times(exposures)), True, "--exposures")
    elif ev is not None:
        result = Exposures(np.power(2.0, np.asarray(parse_ev(ev))), False, "--ev")
    else:
        result = _from_exposure_txt(paths)
        if result is None:
            result = _exif_times(paths)
            if result is None:
                return None  # no metadata: estimated from the pixels
    try:
        validate_exposures(result, paths)
    except UsageError as exc:
        if exposures is not None and Path(exposures).is_file():  # the file's content is at fault (exit 1)
            raise InputFileError(exc.problem, exposures) from None
        raise
    if not result.source.startswith("EXIF"):
        result = replace(result, note=_exif_disagreement(paths, result))
    return result


def read_exposure_file(path: Path, frames: Sequence[Path]) -> list[float]:
    """``--exposures FILE``: one time in seconds per line (``1/60`` or decimals), in the order
    the frames are given, or ``name time`` pairs matched to the frames by file name; blank lines
    and ``#`` comments are skipped."""
    rows = read_rows(path)
    try:
        if all(name is None for name, _ in rows):
            times = parse_exposure_times(",".join(value for _, value in rows))
            if len(times) != len(frames):
                raise UsageError(f"{len(times)} times for {len(frames)} frames")
            return times
        if any(name is None for name, _ in rows):
            raise UsageError("expected one time per line, or 'name time' lines, not both")
        by_name: dict[str, float] = {}
        for name, time_text in rows:
            if Path(name).name in by_name:
                raise UsageError(f"{Path(name).name} is listed twice")
            by_name[Path(name).name] = parse_exposure_times(time_text)[0]
        missing = [f for f in frames if Path(f).name not in by_name]
        if missing:
            raise UsageError(f"no time for {Path(missing[0]).name}")
        return [by_name[Path(f).name] for f in frames]
    except UsageError as exc:  # the file's content is at fault: a file error, naming it
        raise InputFileError(exc.problem.replace("--exposures: ", ""), path) from None


DISAGREEMENT_STOPS = 1 / 3  # sources whose relative exposures differ by more than this disagree


def _exif_disagreement(paths: Sequence[Path], chosen: Exposures) -> str:
    """A note when every frame has an EXIF ExposureTime and those disagree with the chosen source."""
    exif = [read_exif(p).exposure_time for p in paths]
    if any(t is None for t in exif):
        return ""
    exif_stops = np.log2(np.asarray(exif, dtype=np.float64))
    chosen_stops = np.log2(chosen.times)
    if np.abs((exif_stops - exif_stops[0]) - (chosen_stops - chosen_stops[0])).max() <= DISAGREEMENT_STOPS:
        return ""
    listing = ", ".join(f"{p.name} {_seconds(t)}" for p, t in zip(paths, exif))
    return f"exposures from {chosen.source}; EXIF ExposureTime disagrees ({listing})"


def _seconds(t: float) -> str:
    return f"1/{1 / t:.4g} s" if t < 1 else f"{t:.4g} s"


def validate_exposures(exposures: Exposures, paths: Sequence[Path]) -> None:
    """Check count, positivity and distinctness of exposure times."""
    times = exposures.times
    if len(times) != len(paths):
        raise UsageError(f"{exposures.source} gives {len(times)} exposures for {len(paths)} frames")
    if not np.all(np.isfinite(times)) or np.any(times <= 0):
        raise UsageError(f"{exposures.source}: exposure times must be positive")
    if exposures.absolute and (times.min() < MIN_SECONDS or times.max() > MAX_SECONDS):
        index = int(np.argmin(times)) if times.min() < MIN_SECONDS else int(np.argmax(times))
        raise UsageError(f"{exposures.source}: {times[index]:g} s is not an exposure time (between {MIN_SECONDS:g} "
                         f"and {MAX_SECONDS:g} s)", paths[index] if exposures.source.startswith("EXIF") else None)
    span = float(np.log2(times.max()) - np.log2(times.min()))  # in logs: 1e300 / 1e-300 overflows
    if not span <= MAX_SPAN_EV:
        raise UsageError(f"{exposures.source}: the exposures span {span:.0f} EV; a bracket spans at most "
                         f"{MAX_SPAN_EV} EV (as --ev, |EV| <= 40)")
    order = np.argsort(times)
    sorted_times = times[order]
    ratio = sorted_times[1:] / sorted_times[:-1]
    dup = np.flatnonzero(ratio < 1.0 + 1e-6)
    if dup.size:
        a, b = paths[order[dup[0]]], paths[order[dup[0] + 1]]
        raise UsageError(f"{exposures.source}: {a.name} and {b.name} have the same exposure "
                         f"({sorted_times[dup[0]]:g}); every frame needs a different one", b)
