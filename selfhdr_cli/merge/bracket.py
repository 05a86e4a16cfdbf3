"""The Bracket: LDR frames in exposure order, their exposure times, the reference.

Everything is validated here before heavy work: frame count, exposure metadata,
frame sizes (read from headers), reference choice.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from selfhdr_cli.errors import InputFileError, UsageError
from selfhdr_cli.io.exposure import ESTIMATED, Exposures, resolve_exposures, validate_exposures, why_no_exif_times
from selfhdr_cli.io.frames import max_pixels, pixel_count, probe_size, read_ldr
from selfhdr_cli.io.raw import RAW_GAMMA, RawOptions, is_raw
from selfhdr_cli.merge.snr import code_bits
from selfhdr_cli.merge.bracket_response import fit_bracket_response
from selfhdr_cli.radiometry.exposure_ratio import (
    ExposureEstimateError,
    estimate_exposures,
    estimate_exposures_and_cautions,
    exposure_contradictions,
)
from selfhdr_cli.radiometry.response import CameraResponse


@dataclass(frozen=True)
class BracketSettings:
    """How a run reads its brackets, chosen once where the command line is parsed.

    ``response``: the camera response g that linearises the frames (``--crf``); ``raw``: how
    RAW frames are developed; ``trust_exposures``: skip the check of the exposures against
    the pixels; ``fit_response`` (``--crf auto``): fit each 8-bit bracket's own response
    (``radiometry.bracket_response``), ``response`` standing where the fit is not kept and for
    other frames. No field has a default: a forgotten choice is an error, not a silent gamma 2.2.
    """

    response: CameraResponse
    raw: RawOptions
    trust_exposures: bool
    fit_response: bool


def bracket_settings(response: CameraResponse, white_balance: str, raw_space: str,
                     trust_exposures: bool, fit_response: bool) -> BracketSettings:
    """The settings of a run from its choices: RAW frames are handed on in the encoding that
    ``response`` undoes (linear for ``--crf linear``, else gamma ``RAW_GAMMA``)."""
    encoding = 1.0 if response.kind == "linear" else RAW_GAMMA
    return BracketSettings(response, RawOptions(white_balance, raw_space, encoding), trust_exposures, fit_response)


@dataclass
class Bracket:
    """N ≥ 2 frames of one scene, sorted by exposure time (shortest first).

    ``frames``: float32 (H, W, 3) RGB in [0, 1]. ``times``: exposure times in the
    units of ``exposures.absolute`` (seconds or relative), ascending.
    ``reference``: index into the sorted frames whose geometry defines the output.
    """

    frames: list[np.ndarray]
    times: np.ndarray
    reference: int
    paths: list[Path] = field(default_factory=list)
    absolute: bool = False
    exposure_source: str = ""
    notes: list[str] = field(default_factory=list)  # what the reader could not check, for a ``note:`` line
    response: CameraResponse | None = None  # the bracket's own fitted response (--crf auto); None: the run's
    response_note: str = ""  # with --crf auto: what was fitted or kept, and why
    # each frame's global rigid motion from the reference, when the response fit found them (None: none moved);
    # the alignment reuses them instead of estimating them again
    rigid_motions: tuple[np.ndarray | None, ...] | None = None

    @property
    def relative_times(self) -> np.ndarray:
        """Exposure times relative to the shortest frame (SPEC §1: t_1 = 1)."""
        return self.times / self.times[0]

    @property
    def shape(self) -> tuple[int, int]:
        return self.frames[0].shape[:2]

    def __len__(self) -> int:
        return len(self.frames)


@dataclass(frozen=True)
class BracketPlan:
    """A validated bracket before decoding: what would be merged (for ``--dry-run``)."""

    paths: list[Path]
    times: np.ndarray
    reference: int
    size: tuple[int, int]
    absolute: bool
    exposure_source: str
    exposure_note: str = ""  # another source disagrees (``io.exposure.Exposures.note``)
    exposure_warnings: tuple[str, ...] = ()  # estimated exposures that look doubtful (``Exposures.warnings``)


MIN_SIDE = 16  # optical flow needs a few pixels of context; nothing smaller is a photograph


def default_reference(n: int) -> int:
    """The middle frame in exposure order (for N = 3, the medium exposure)."""
    return n // 2


def _choose_reference(reference: str | int | None, sorted_paths: list[Path]) -> int:
    n = len(sorted_paths)
    if reference is None or reference == "":
        return default_reference(n)
    text = str(reference).strip()
    try:
        index = int(text)
    except ValueError:
        matches = [i for i, p in enumerate(sorted_paths) if p.name == Path(text).name]
        if not matches:
            raise UsageError(f"--reference {text!r} is neither a frame index nor one of the input files") from None
        return matches[0]
    if not 0 <= index < n:
        raise UsageError(f"--reference {index} is out of range: frames are numbered 0..{n - 1} "
                         "from shortest to longest exposure")
    return index


def three_frames(n: int, reference: int) -> list[int]:
    """Indices of the networks' (short, reference, long) among ``n`` frames in exposure order:
    the shortest, the reference and the longest (SPEC §1). Refuses a reference at either end."""
    if n < 3 or reference in (0, n - 1):
        raise UsageError(f"the networks need 3 frames with the reference in the middle (got {n}, "
                         f"reference {reference}); use --method color")
    return [0, reference, n - 1]


def _check_frame_path(path: Path) -> None:
    """A frame argument that is not a frame file gets a message saying what it is."""
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputFileError("symbolic link loop: the link points back at itself", path) from None
        if exc.errno == errno.ENOENT:
            raise UsageError("no such file", path) from None
        raise InputFileError(f"cannot read ({exc.strerror})", path) from None
    if path.is_dir():
        raise UsageError(f"is a folder, not a frame: give its frames ({path}/*.tif), or merge every bracket "
                         "under it with --batch", path)


def check_raw_bracket(paths: Sequence[Path], settings: BracketSettings) -> bool:
    """True for a RAW bracket. RAW frames come alone (a bracket mixes no RAW with other
    formats) and are linear: they are developed by selfhdr and take no calibrated ``--crf``;
    ``--crf linear`` (their true response) hands them on linear, the default with gamma
    ``RAW_GAMMA``."""
    response = settings.response
    raw = [is_raw(p) for p in paths]
    if not any(raw):
        return False
    if not all(raw):
        other = next(p for p, r in zip(paths, raw) if not r)
        raise UsageError("a bracket of RAW frames cannot mix in other formats", other)
    encodings = {"linear": 1.0, f"gamma:{RAW_GAMMA:g}": RAW_GAMMA}  # the responses RAW frames are handed on in
    if encodings.get(response.identity) != settings.raw.encoding_gamma:
        raise UsageError(f"--crf {response}: RAW frames are developed linearly by selfhdr; leave --crf out "
                         "(or pass --crf linear)")
    return True


def plan_bracket(paths: Sequence[str | Path], settings: BracketSettings, exposures: str | None = None,
                 ev: str | None = None, reference: str | int | None = None) -> BracketPlan:
    """Validate inputs and metadata without decoding pixels, except where no source has the
    exposure times (or ``exposures="auto"``): then they are estimated from the decoded frames,
    with ``settings.response`` (``_estimated_exposures``)."""
    paths = [Path(p) for p in paths]
    for p in paths:
        _check_frame_path(p)
    check_raw_bracket(paths, settings)
    if len(paths) < 2:
        raise UsageError(f"a bracket needs at least 2 frames, got {len(paths)}",
                         paths[0] if paths else None)
    seen: dict[Path, Path] = {}
    for p in paths:
        real = p.resolve()
        if real in seen:
            same = "" if seen[real] == p else f" (as {seen[real]})"
            raise UsageError(f"the same file is given twice{same}", p)
        seen[real] = p
    sizes = [probe_size(p) for p in paths]
    cap = max_pixels()
    for p, (h, w) in zip(paths, sizes):
        if h * w > cap:
            raise InputFileError(f"image is {w}x{h}, over the {pixel_count(cap)} cap "
                                 "(set SELFHDR_MAX_PIXELS to raise it)", p)
        if (h, w) != sizes[0]:
            raise InputFileError(f"size {w}x{h} differs from {paths[0].name} ({sizes[0][1]}x{sizes[0][0]})", p)
        if min(h, w) < MIN_SIDE:
            raise InputFileError(f"image is {w}x{h}: too small to merge (at least {MIN_SIDE} px a side)", p)
    info = resolve_exposures(paths, exposures=exposures, ev=ev)
    if info is None:
        info = _estimated_exposures(paths, settings, asked=exposures is not None)
    order = np.argsort(info.times, kind="stable")
    sorted_paths = [paths[i] for i in order]
    return BracketPlan(paths=sorted_paths, times=info.times[order], reference=_choose_reference(reference, sorted_paths),
                       size=sizes[0], absolute=info.absolute, exposure_source=info.source, exposure_note=info.note,
                       exposure_warnings=info.warnings)


def _estimated_exposures(paths: list[Path], settings: BracketSettings, asked: bool = False) -> Exposures:
    """Exposure times measured from the pixels (``radiometry.exposure_ratio.estimate_exposures``),
    with a note giving the fitted EVs; one line naming the frames when they cannot be."""
    frames = [read_ldr(p, raw_options=settings.raw) for p in paths]
    try:
        estimate = estimate_exposures_and_cautions(frames, settings.response)
    except ExposureEstimateError as exc:
        a, b, why = exc.args
        context = "--exposures auto" if asked else "no exposure times (no --exposures/--ev, exposure.txt or EXIF)"
        raise UsageError(f"{context}: they cannot be estimated from the pixels: {paths[a].name} and "
                         f"{paths[b].name}: {why}; pass the times with --exposures or --ev") from None
    del frames
    times = estimate.times
    stops = np.log2(times / times.min())
    rows = sorted(zip(paths, stops, estimate.spreads), key=lambda row: row[1])
    listing = ", ".join(f"{p.name} {e:+.2f}" + (f" (±{s:.2f})" if s > 0 else "") for p, e, s in rows)
    why = "" if asked else f" (no --exposures/--ev or exposure.txt, and {why_no_exif_times(paths)})"
    cautions = "; ".join(f"{paths[c.first].name} → {paths[c.second].name}: {c.text}" for c in estimate.cautions)
    warnings = (f"the estimated exposures are doubtful ({cautions}): pass the times with --exposures or --ev",) \
        if cautions else ()
    return Exposures(times, False, ESTIMATED, warnings=warnings,
                     note=f"exposures estimated from the pixels{why}: EV {listing} (± the spread of each step)")


def load_bracket(paths: Sequence[str | Path], settings: BracketSettings, exposures: str | None = None,
                 ev: str | None = None, reference: str | int | None = None) -> Bracket:
    """Validate, decode and sort a bracket. Raises SelfHDRError subclasses on bad input."""
    plan = plan_bracket(paths, settings, exposures=exposures, ev=ev, reference=reference)
    return decode_plan(plan, settings)


def decode_plan(plan: BracketPlan, settings: BracketSettings) -> Bracket:
    """Decode the frames of a validated plan, and check the exposures against the pixels
    (``check_exposures``) unless ``settings.trust_exposures``. RAW frames are developed with
    ``settings.raw`` and encoded with the response the settings name (``check_raw_bracket``)."""
    frames = [read_ldr(p, raw_options=settings.raw) for p in plan.paths]
    for p, f in zip(plan.paths, frames):
        if f.shape[:2] != plan.size:
            raise InputFileError("decoded size differs from the other frames", p)
    notes = []
    times, response, fitted, response_note, motions = plan.times, settings.response, None, "", None
    if settings.fit_response and code_bits(frames) == 8:
        own = fit_bracket_response(frames, times, settings.response, plan.reference)
        if own.fitted and plan.exposure_source == ESTIMATED:
            # the times were estimated through the fallback curve: once more through the bracket's own
            try:
                again = estimate_exposures(frames, own.response)
            except ExposureEstimateError:
                again = plan.times
            if not np.any(np.diff(again) <= 0) and not np.allclose(again / again[0], plan.times / plan.times[0]):
                refit = fit_bracket_response(frames, again, settings.response, plan.reference)
                if refit.fitted:  # else the first fit, under the first estimate, stands
                    own, times = refit, again
        response_note, motions = own.note, own.motions
        response, fitted = own.response, (own.response if own.fitted else None)
    if not settings.trust_exposures and plan.exposure_source != ESTIMATED:
        notes += check_exposures(frames, times, plan.paths, plan.exposure_source, response)
    return Bracket(frames=frames, times=times, reference=plan.reference, paths=list(plan.paths),
                   absolute=plan.absolute, exposure_source=plan.exposure_source, notes=notes, response=fitted,
                   response_note=response_note, rigid_motions=motions)


def check_exposures(frames: Sequence[np.ndarray], times: np.ndarray, paths: Sequence[Path], source: str,
                    response: CameraResponse) -> list[str]:
    """Refuse exposures that the pixels contradict (``exposure_contradictions``: wrong order,
    wrong spacing): one line naming both frames and both values. Returns notes naming the pairs
    that share too few well-exposed pixels to be checked."""
    found, unjudged = exposure_contradictions(frames, times, response)
    if not found:
        return [f"exposures of {paths[a].name} → {paths[b].name} not checked against the pixels (too few "
                "pixels well exposed in both)" for a, b in unjudged]
    c = found[0]
    what = {"order": "the order is wrong", "scale": "check the exposures, or the camera response --crf",
            "spacing": "the spacing is wrong"}[c.kind]
    raise UsageError(f"{paths[c.first].name} → {paths[c.second].name}: {source} puts them {c.given:+.2f} EV apart, "
                     f"their pixels {c.measured:+.2f} EV ({what}); fix the exposures, or pass --trust-exposures")


def bracket_from_arrays(frames: Sequence[np.ndarray], times: Sequence[float], reference: int | None = None) -> Bracket:
    """A Bracket from in-memory frames and their exposure times (the library's entry point).

    Parameters
    ----------
    frames : sequence of ndarray, float (H, W, 3), LDR in [0, 1], one size, any order
        Integer arrays are refused (divide by 255 or 65535 first); values outside [0, 1]
        are refused rather than clipped.
    times : sequence of float
        One positive, distinct exposure time per frame, any one unit.
    reference : int, optional
        Index in exposure order (0 = shortest); default the middle frame.
    """
    if len(frames) < 2 or len(frames) != len(times):
        raise UsageError(f"need ≥ 2 frames and one exposure time per frame (got {len(frames)} and {len(times)})")
    arrays = [np.asarray(f) for f in frames]
    for k, a in enumerate(arrays):
        if a.dtype.kind != "f":
            raise UsageError(f"frame {k} is {a.dtype}: pass float LDR in [0, 1] (divide by 255 or 65535 first)")
        if a.ndim != 3 or a.shape[2] != 3 or a.shape != arrays[0].shape:
            raise UsageError(f"frame {k} has shape {a.shape}; every frame must be (H, W, 3) like frame 0 "
                             f"{arrays[0].shape}")
        if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
            raise UsageError(f"frame {k} has values outside [0, 1] (or NaN): pass LDR normalised to [0, 1]")
    t = np.asarray(times, dtype=np.float64)
    validate_exposures(Exposures(t, False, "times"), [Path(f"frame {k}") for k in range(len(t))])
    order = np.argsort(t, kind="stable")
    ref = default_reference(len(frames)) if reference is None else int(reference)
    if not 0 <= ref < len(frames):
        raise UsageError(f"reference {ref} is out of range: frames are numbered 0..{len(frames) - 1}")
    return Bracket(frames=[arrays[i].astype(np.float32) for i in order], times=t[order], reference=ref)
