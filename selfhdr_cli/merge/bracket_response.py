"""A bracket's own camera response, fitted from its frames (``--crf auto``).

Camera JPEGs are not gamma 2.2: each camera renders its own tone curve, and merging through
the wrong curve makes frames disagree by a smooth, level-dependent factor, which the merge
turns into colour patches where it moves from one frame to the next. An 8-bit bracket holds
enough to fit its curve (Debevec & Malik 1997, ``radiometry.calibration``, robust to motion).
The fit is kept only when it explains the frames (``MAX_RESIDUAL_STOPS``); otherwise the
fallback response stands, and the note says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import cv2
import numpy as np

from selfhdr_cli.errors import UsageError
from selfhdr_cli.merge.align import ecc_size, rigid_motion_between
from selfhdr_cli.merge.device import map_pieces
from selfhdr_cli.radiometry.calibration import calibrate_debevec
from selfhdr_cli.radiometry.response import TABLE_TOP_RANGE, CameraResponse

# A kept fit explains the sampled pixels within this rms misfit (stops). On the real brackets of
# benchmarks/real_brackets.py, fits at 0.09–0.34 stops lowered the departures (0.35 of the gamma-2.2
# merge's on average); the two above 0.5 (a handheld bracket with 60 px of shake, one whose EXIF-less
# exposures were estimated at an implausible 16 EV) raised them: their frames do not constrain a curve.
MAX_RESIDUAL_STOPS = 0.4
LEVELS = 256  # 8-bit frames: one table entry per code value
PRIOR_WEIGHT = 1.0  # the fallback curve's pull per level (log units; each of ~1500 samples weighs 1 per frame)
# The fallback curve stands unless the bracket's own fit explains the frames clearly better: its rms misfit
# under half the fallback's on the same locations. Frames that are gamma 2.2 gain nothing from a fit, whose
# scale is its weakest part: an 8-bit gamma-2.2 group (synth --bits 8, validation maps) lost 6 dB PSNR-μ to
# it. Measured ratios: 0.65–0.96 on those frames, 0.03–0.26 on the real brackets whose fits are kept.
PRIOR_MARGIN = 0.5


@dataclass(frozen=True)
class BracketResponse:
    """The response a bracket is merged with: ``response`` (fitted, or the fallback), whether it
    was ``fitted``, the fit's ``residual_stops`` (NaN when no fit ran) and a one-line ``note``."""

    response: CameraResponse
    fitted: bool
    residual_stops: float
    note: str
    # each frame's rigid motion from the reference, found on the way (None: none); the alignment reuses them
    motions: tuple[np.ndarray | None, ...] | None = None


def fit_bracket_response(frames: Sequence[np.ndarray], times: Sequence[float], fallback: CameraResponse,
                         reference: int | None = None, seed: int = 0) -> BracketResponse:
    """Fit the response of one 8-bit bracket, or keep ``fallback``.

    ``frames``: float32 (H, W, 3) LDR in [0, 1] decoded from 8-bit files, sorted by ``times``
    (their exposure times, any one unit). A handheld bracket is first brought onto the
    ``reference`` frame (default the middle one) by a rigid motion per frame (fitted under
    ``fallback``; ``rigid_onto_reference``), so that a pixel location is one scene point in
    every frame. The fit samples pixels (its cost does not grow with the image), drops
    locations that moved, and is kept when its residual is at most ``MAX_RESIDUAL_STOPS``.
    Deterministic for a given ``seed``.
    """
    reference = len(frames) // 2 if reference is None else reference
    motions = rigid_motions(frames, times, reference, fallback)
    steady = rigid_onto_reference(frames, times, reference, fallback, motions)
    return replace(_fit_steady(steady, times, fallback, seed), motions=tuple(motions))


def _fit_steady(steady: Sequence[np.ndarray], times: Sequence[float], fallback: CameraResponse,
                seed: int) -> BracketResponse:
    try:
        prior = fallback.to_linear(np.repeat(np.linspace(0.0, 1.0, LEVELS, dtype=np.float32)[:, None], 3, axis=1))[:, 1]
        fit = calibrate_debevec([(steady, list(times))], LEVELS, seed=seed, prior=prior, prior_weight=PRIOR_WEIGHT)
    except UsageError as exc:
        return BracketResponse(fallback, False, float("nan"),
                               f"camera response: kept {fallback} (the bracket's own curve could not be fitted: {exc})")
    if not fit.residual_stops <= MAX_RESIDUAL_STOPS:
        return BracketResponse(fallback, False, fit.residual_stops,
                               f"camera response: kept {fallback} (the bracket's own fit misses by "
                               f"{fit.residual_stops:.2f} stops, over {MAX_RESIDUAL_STOPS:g}: motion or wrong exposures)")
    tops = fit.curves[:, -1]
    low, high = TABLE_TOP_RANGE
    # within a table's range, every channel's top
    scale = float(np.clip(saturation_scale(steady, times, fit.curves), 1.01 * low / tops.min(), 0.99 * high / tops.max()))
    curves = fit.curves * scale
    if not fit.residual_stops < PRIOR_MARGIN * fit.prior_residual_stops:
        return BracketResponse(fallback, False, fit.residual_stops,
                               f"camera response: kept {fallback} (it explains the frames as well as the bracket's "
                               f"own fit: {fit.prior_residual_stops:.2f} against {fit.residual_stops:.2f} stops)")
    flat = flattest_step(curves)
    if flat < MIN_STEP_RISE:
        return BracketResponse(fallback, False, fit.residual_stops,
                               f"camera response: kept {fallback} (the bracket's own fit is flat over part of its "
                               f"range, +{100 * flat:.1f} % per {STEP_LEVELS} levels: motion misled it)")
    try:
        response = CameraResponse("table", curves=tuple(tuple(float(v) for v in c) for c in curves),
                                  source="fitted to the bracket")
    except UsageError as exc:  # a curve no table can hold: the fallback stands
        return BracketResponse(fallback, False, fit.residual_stops, f"camera response: kept {fallback} ({exc})")
    return BracketResponse(response, True, fit.residual_stops,
                           f"camera response: fitted to the bracket ({fit.residual_stops:.2f} stops rms, "
                           f"{100 * fit.rejected:.0f} % of samples dropped as motion)")


MIN_PER_BIN = 100  # values per bin of predicted radiance, for the share that clips to be judged
SATURATION_AGREEMENT = 1.5  # the estimates of the saturation, at most this far apart (a factor)
SATURATION_SAMPLES = 250_000  # pixels per frame, at most (a fixed stride)


# No camera's curve is flat: a brighter code always means more light, and a shoulder that compresses
# highlights makes the inverse curve steeper, not flatter. A fit that plateaus (its least squares went
# downhill and monotonicity was forced) was misled by motion: on the realistic-camera validation group,
# such fits cost up to 19 dB. Gamma 2.2 rises 15 % over its top 16 levels, 2.4× over 16 at mid-grey.
STEP_LEVELS = 16
MIN_STEP_RISE = 0.03


def flattest_step(curves: np.ndarray) -> float:
    """The smallest relative rise of a response table over ``STEP_LEVELS`` levels, over its channels
    and its range above the darkest 2 % (where a toe may stay near black): g(z + s) / g(z) − 1."""
    start = max(1, curves.shape[1] // 50)
    low, high = curves[:, start:-STEP_LEVELS], curves[:, start + STEP_LEVELS:]
    return float(np.min(high / np.maximum(low, 1e-12)) - 1.0)


def saturation_scale(frames: Sequence[np.ndarray], times: Sequence[float], curves: np.ndarray) -> float:
    """The factor that puts a fitted response in the convention's units, where a value that just
    saturates a frame reads 1 (SPEC §1), from the frames themselves.

    A fit knows its curve only up to a factor. Its top end, where it would be fixed, is the
    least constrained (the levels there weigh least). Instead, each value of a frame is
    predicted from the next shorter frame, at levels the fit knows well, and the saturation is
    the predicted radiance above which most values clip (≥ 254/255): the share that clips,
    binned by prediction, crosses one half there (noise blurs the step, not its middle).
    Motion blurs it beyond use: unless at least 3 estimates (frame pairs × channels) agree
    within ``SATURATION_AGREEMENT``, returns 1 (the fit's own scale stands).
    ``frames`` sorted by ``times``; ``curves`` (3, levels): linear values at evenly spaced levels.
    """
    levels = np.linspace(0.0, 1.0, curves.shape[1])
    estimates = []
    height, width = frames[0].shape[:2]
    # a fixed stride over the pixels, read in place (cropped frames are views: no whole-frame copy)
    y, x = np.divmod(np.arange(0, height * width, max(1, height * width // SATURATION_SAMPLES)), width)
    for k in range(1, len(frames)):
        longer, shorter = frames[k][y, x], frames[k - 1][y, x]
        for c in range(3):
            usable = (shorter[:, c] > 0.05) & (shorter[:, c] < 0.95)
            predicted = np.interp(shorter[usable, c], levels, curves[c]) * (times[k] / times[k - 1])
            clipped = longer[usable, c] >= 254 / 255
            if int(clipped.sum()) < MIN_PER_BIN * 4:
                continue
            order = np.argsort(predicted, kind="stable")
            count = order.size - order.size % MIN_PER_BIN  # equal-count bins of predicted radiance, in order
            share = clipped[order[:count]].reshape(-1, MIN_PER_BIN).mean(axis=1)
            middle = predicted[order[:count]].reshape(-1, MIN_PER_BIN)[:, MIN_PER_BIN // 2]
            crossing = np.flatnonzero(share >= 0.5)
            if crossing.size:
                estimates.append(float(middle[crossing[0]]))
    if len(estimates) < 3 or max(estimates) > SATURATION_AGREEMENT * min(estimates):
        return 1.0
    return float(np.clip(1.0 / np.median(estimates), 1 / 8, 8))


def rigid_motions(frames: Sequence[np.ndarray], times: Sequence[float], reference: int,
                  response: CameraResponse) -> list[np.ndarray | None]:
    """Each frame's global rigid motion from ``frames[reference]`` (``merge.align.rigid_motion_between``
    under ``response``; None for the reference and where none was found), in threads."""
    def one(k: int) -> np.ndarray | None:
        if k == reference:
            return None
        return rigid_motion_between(frames[reference], frames[k], float(times[reference]), float(times[k]), response)

    return map_pieces(one, range(len(frames)), ecc_pixels(frames[0]))


def ecc_pixels(frame: np.ndarray) -> int:
    width, height = ecc_size(*frame.shape[:2])
    return width * height


def rigid_onto_reference(frames: Sequence[np.ndarray], times: Sequence[float], reference: int,
                         response: CameraResponse, motions: Sequence[np.ndarray | None] | None = None
                         ) -> list[np.ndarray]:
    """The frames warped onto ``frames[reference]`` by each one's global rigid motion
    (``motions``, by default ``rigid_motions`` under ``response``), cropped to what every
    frame sees (uncropped, borders replicated, when the shake leaves under 16 px a side).
    float32 (h, w, 3) each, h ≤ H, w ≤ W; the frames as given when none moved."""
    if motions is None:
        motions = rigid_motions(frames, times, reference, response)
    ref = frames[reference]
    height, width = ref.shape[:2]
    warped, reach = [], 0.0
    corners = np.array([[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1], [width - 1, height - 1, 1]], float).T
    for frame, motion in zip(frames, motions):
        if motion is None:
            warped.append(frame)
            continue
        moved = motion @ corners
        reach = max(reach, float(np.abs(moved[:2] / moved[2] - corners[:2]).max()))
        warped.append(cv2.warpPerspective(frame, motion, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                          borderMode=cv2.BORDER_REPLICATE))
    margin = int(np.ceil(reach)) + 1 if reach > 0 else 0
    if margin == 0 or 2 * margin >= min(height, width) - 16:
        return warped
    return [w[margin:height - margin, margin:width - margin] for w in warped]
