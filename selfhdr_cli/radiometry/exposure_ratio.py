"""Exposure ratios measured from the pixels of two frames of one scene.

Where both frames measure a value (neither dark nor clipped), g(I_b) / g(I_a) = t_b / t_a
(SPEC §1), up to noise and motion; the median of the log ratio over those values resists
both. It serves the sanity check of given exposures and the
exposures estimated when a bracket has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from selfhdr_cli.radiometry.response import CameraResponse

WELL_EXPOSED = (0.05, 0.9)   # LDR values both frames must lie within to be compared
MIN_SAMPLES = 2_000          # fewer shared values than this: the pair cannot be judged
MAX_SAMPLES = 400_000        # values compared per pair, at most: time bounded on 24 MP
SAMPLE_SEED = 0              # the pixels sampled are drawn at random, the same ones every run
# A wrong camera response scales every measured log ratio by one factor (gamma 2.2 assumed for a
# curve of gamma γ: ×2.2/γ): measured 1.5–1.7× the given stops on real JPEG/TIFF brackets here
# (benchmarks/real_brackets.py). So the spacing is judged relative to that factor, the order absolutely.
ORDER_STOPS = 0.5            # a pair measured this far the other way round is in the wrong order
SCALE_RANGE = (0.4, 2.5)     # measured / given stops beyond this: wrong exposures (or a wrong --crf)
SCALE_SPREAD = 1.6           # pairs whose measured / given differ by more than this factor: wrong spacing


@dataclass(frozen=True)
class PairRatio:
    """The measured log2 exposure ratio of two frames (None: too few shared values), how many
    values it rests on, their share of the values compared, and the spread of the per-value
    ratios (robust σ in stops: 0 when every value agrees)."""

    stops: float | None
    samples: int
    share: float = 1.0
    spread: float = 0.0


def measure_exposure_ratio(frame_a: np.ndarray, frame_b: np.ndarray, response: CameraResponse) -> PairRatio:
    """log2(t_b / t_a) measured from the pixels.

    ``frame_a``, ``frame_b``: float32 (H, W, 3) LDR in [0, 1], same scene, same size. Values
    well exposed in both (``WELL_EXPOSED``, per channel) are linearised with ``response``; the
    result is the median of log2 g(I_b) − log2 g(I_a).
    """
    pixels = sample_pixels(frame_a.shape[0] * frame_a.shape[1], MAX_SAMPLES // 3)
    # whole pixels, all three channels: a stride over the interleaved values can fall on one channel
    a = frame_a.reshape(-1, 3)[pixels].reshape(-1)
    b = frame_b.reshape(-1, 3)[pixels].reshape(-1)
    low, high = WELL_EXPOSED
    both = (a > low) & (a < high) & (b > low) & (b < high)
    count = int(both.sum())
    share = count / max(1, a.size)
    if count < MIN_SAMPLES:
        return PairRatio(None, count, share)
    channels = np.tile(np.arange(3), pixels.size)[both]  # per-channel responses need each value's channel
    la = response.to_linear(a[both], channels).astype(np.float64)
    lb = response.to_linear(b[both], channels).astype(np.float64)
    ratios = np.log2(lb) - np.log2(la)
    q25, q50, q75 = np.percentile(ratios, (25, 50, 75))
    return PairRatio(float(q50), count, share, float((q75 - q25) / 1.349))


def sample_pixels(count: int, at_most: int) -> np.ndarray:
    """Indices of at most ``at_most`` of ``count`` pixels, sorted: all of them when they are few,
    else a fixed random draw (``SAMPLE_SEED``), so that no image width aliases with a stride."""
    if count <= at_most:
        return np.arange(count)
    return np.unique(np.random.default_rng(SAMPLE_SEED).integers(0, count, at_most))


@dataclass(frozen=True)
class Contradiction:
    """Frames ``first`` → ``second`` (indices in exposure order): ``given`` and ``measured`` stops
    between them, and why they contradict (``order``, ``scale`` or ``spacing``)."""

    first: int
    second: int
    given: float
    measured: float
    kind: str


def exposure_contradictions(frames: Sequence[np.ndarray], times: Sequence[float], response: CameraResponse
                            ) -> tuple[list[Contradiction], list[tuple[int, int]]]:
    """Where the pixels contradict the given exposures.

    ``frames``: float32 (H, W, 3) LDR in [0, 1], sorted by ``times`` (any one unit). Each
    adjacent pair's measured log2 ratio must have the given sign (``order``), lie within
    ``SCALE_RANGE`` times the given one (``scale``), and all pairs must agree on that factor
    within ``SCALE_SPREAD`` (``spacing``). Pairs with too few shared values are not judged: they
    are returned second, as (first, second) indices, for the caller to say so.
    """
    found, factors, unjudged = [], [], []
    for i in range(len(frames) - 1):
        given = float(np.log2(times[i + 1] / times[i]))
        measured = measure_exposure_ratio(frames[i], frames[i + 1], response).stops
        if measured is None:
            unjudged.append((i, i + 1))
            continue
        if measured < -ORDER_STOPS:
            found.append(Contradiction(i, i + 1, given, measured, "order"))
        elif not SCALE_RANGE[0] <= measured / given <= SCALE_RANGE[1]:
            found.append(Contradiction(i, i + 1, given, measured, "scale"))
        else:
            factors.append((measured / given, i, given, measured))
    if not found and len(factors) > 1:
        low, high = min(factors), max(factors)
        if high[0] / low[0] > SCALE_SPREAD:
            _, i, given, measured = high if abs(high[0] - 1) > abs(low[0] - 1) else low
            found.append(Contradiction(i, i + 1, given, measured, "spacing"))
    return found, unjudged


MIN_STEP_STOPS = 0.1  # estimated neighbours closer than this are the same exposure


class ExposureEstimateError(ValueError):
    """The frames share too few well-exposed values to estimate their exposures."""


def estimate_exposures(frames: Sequence[np.ndarray], response: CameraResponse) -> np.ndarray:
    """Relative exposure times of frames without metadata, from their pixels: the times of
    ``estimate_exposures_and_cautions``."""
    return estimate_exposures_and_cautions(frames, response).times


# An estimate is doubtful (a caution, said as a warning) when a step exceeds what brackets use or a pair
# shares few well-exposed values. On the real brackets here the mertens house (no metadata) was estimated
# at steps of 5.5, 5.6 and 4.8 EV. The spread of a pair's per-value ratios is reported, not judged: on
# every real JPEG bracket here it is ±0.7–1.5 EV under gamma 2.2 (their curves are not gamma 2.2), so a
# threshold on it would warn on all of them.
MAX_STEP_STOPS = 4.0
MIN_SHARED = 0.02


@dataclass(frozen=True)
class PairCaution:
    """Why the estimated step between frames ``first`` and ``second`` (input indices) is doubtful."""

    first: int
    second: int
    text: str


@dataclass(frozen=True)
class ExposureEstimate:
    """Estimated relative times (input order, the shortest at 1), each estimated step's spread
    (``spreads[k]``: robust σ in stops of the step that ends at frame k; 0 for the shortest) and
    the cautions."""

    times: np.ndarray
    spreads: np.ndarray
    cautions: list[PairCaution]


def estimate_exposures_and_cautions(frames: Sequence[np.ndarray], response: CameraResponse) -> ExposureEstimate:
    """Relative exposure times of frames without metadata, from their pixels, and what makes
    the estimate doubtful.

    ``frames``: float32 (H, W, 3) LDR in [0, 1], any order. They are ordered by their mean
    linear value, then each neighbour's ratio is measured (``measure_exposure_ratio``) and
    chained. Returns the times in the given order, the shortest at 1, each step's spread, and
    cautions for steps over ``MAX_STEP_STOPS`` and pairs sharing under ``MIN_SHARED`` of their
    values. Raises ExposureEstimateError (naming the
    pair's indices) when a pair shares too few values or measures no step.
    """
    means = [float(np.mean(response.to_linear(f[::4, ::4]))) for f in frames]
    order = [int(i) for i in np.argsort(means, kind="stable")]
    times = np.ones(len(frames))
    spreads = np.zeros(len(frames))
    cautions = []
    for a, b in zip(order[:-1], order[1:]):
        ratio = measure_exposure_ratio(frames[a], frames[b], response)
        if ratio.stops is None:
            raise ExposureEstimateError(a, b, f"only {ratio.samples} values are well exposed in both")
        if ratio.stops < MIN_STEP_STOPS:
            raise ExposureEstimateError(a, b, f"they measure the same exposure ({ratio.stops:+.2f} EV)")
        times[b] = times[a] * 2.0 ** ratio.stops
        spreads[b] = ratio.spread
        if ratio.stops > MAX_STEP_STOPS:
            cautions.append(PairCaution(a, b, f"a step of {ratio.stops:+.2f} EV, more than brackets use "
                                              f"({MAX_STEP_STOPS:g} at most)"))
        if ratio.share < MIN_SHARED:
            cautions.append(PairCaution(a, b, f"only {100 * ratio.share:.1f} % of their values are well "
                                              "exposed in both"))
    return ExposureEstimate(times, spreads, cautions)
