"""What a merge added that the reference frame does not hold: departures from the reference.

A measure without ground truth, for real brackets. The merged HDR is re-exposed to the
reference frame's exposure through the response the merge assumed. Where the reference is
well exposed, a local affine map from the reference to the re-exposed merge is fitted
(Gaussian window, σ = ``WINDOW_SIGMA`` px): a response or brightness mismatch is locally
affine, a seam, a blob or a ghost is not. Residuals above max(4 σ_noise of the reference,
``MIN_RESIDUAL``), in clusters of at least ``MIN_CLUSTER`` px, are departures. The reference
alone (``--method ref``) scores 0; a merge that ghosts or switches frames visibly scores high.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from selfhdr_cli.radiometry.response import CameraResponse

WELL_EXPOSED = (0.04, 0.92)  # every channel of the reference within this: its structure is trustworthy
WINDOW_SIGMA = 2.0           # px: the local affine fit's Gaussian window
NOISE_FACTOR = 4.0           # residuals above this many σ of the reference's noise ...
MIN_RESIDUAL = 0.03          # ... and above this (LDR units) depart
MIN_CLUSTER = 6              # px: smaller specks are noise, not structure
FIT_EPSILON = 1e-4           # regularises the local slope where the reference is flat (LDR² units)
WARN_DEPARTURES = 2.0        # % of the well-exposed reference: above, the merge warns (documented)


@dataclass(frozen=True)
class Departures:
    """``share``: the fraction of well-exposed reference pixels the merge departs from (0–1);
    ``mask``: bool (H, W), where; ``well_exposed``: the fraction of the reference judged;
    ``noise``: the reference's noise σ (LDR units) the threshold used."""

    share: float
    mask: np.ndarray
    well_exposed: float
    noise: float


def reference_noise(reference: np.ndarray) -> float:
    """σ of the noise of an LDR frame (float32 (H, W, 3) in [0, 1]), by Immerkær's (1996) fast
    estimator on its luma: the response of a Laplacian difference kernel that cancels smooth
    structure, averaged. Returns LDR units."""
    gray = reference.mean(axis=2).astype(np.float32)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(gray, -1, kernel, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) / 6 * response.mean())


def departures(hdr: np.ndarray, reference: np.ndarray, reference_time: float, response: CameraResponse
               ) -> Departures:
    """Departures of a merge from its reference frame.

    ``hdr``: the merge, float32 (H, W, 3) linear RGB in short-exposure units; ``reference``:
    the reference frame, float32 (H, W, 3) LDR in [0, 1]; ``reference_time``: its exposure
    relative to the shortest frame (so ``hdr · reference_time`` is its linear exposure);
    ``response``: the g the merge assumed.
    """
    low, high = WELL_EXPOSED
    height = hdr.shape[0]
    judged = np.zeros(hdr.shape[:2], bool)
    departed = np.zeros(hdr.shape[:2], bool)
    noise = reference_noise(reference)
    threshold = max(NOISE_FACTOR * noise, MIN_RESIDUAL)
    for top in range(0, height, STRIP_ROWS):  # strips with a halo: bounded memory on 24 MP merges
        start, stop = max(0, top - STRIP_HALO), min(height, top + STRIP_ROWS + STRIP_HALO)
        keep = slice(top - start, top - start + min(STRIP_ROWS, height - top))
        ref = reference[start:stop].astype(np.float32)
        exposed = response.from_linear(hdr[start:stop] * np.float32(reference_time))  # clipped to its range
        ok = np.all((ref > low) & (ref < high), axis=2)
        residual = _affine_residual(ref, exposed, ok)
        judged[top:top + STRIP_ROWS] = ok[keep]
        departed[top:top + STRIP_ROWS] = (residual > threshold)[keep] & ok[keep]
    if not judged.any():
        return Departures(0.0, departed, 0.0, noise)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(departed.astype(np.uint8), connectivity=8)
    big = stats[:, cv2.CC_STAT_AREA] >= MIN_CLUSTER
    big[0] = False  # the background label
    mask = big[labels]
    return Departures(float(mask.sum() / judged.sum()), mask, float(judged.mean()), noise)


STRIP_ROWS = 256
STRIP_HALO = 16  # rows: beyond the Gaussian window's reach (4 σ)


def _affine_residual(ref: np.ndarray, exposed: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """The largest, over channels, |exposed − (a·ref + b)| with a, b fitted in a Gaussian window on
    the ``judged`` pixels only (a guided-filter-style local regression)."""
    weight = judged.astype(np.float32)

    def smooth(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), WINDOW_SIGMA, borderType=cv2.BORDER_REFLECT)

    norm = np.maximum(smooth(weight), 1e-6)
    residual = np.zeros(judged.shape, np.float32)
    for c in range(3):
        x, y = ref[..., c], exposed[..., c]
        mx, my = smooth(x * weight) / norm, smooth(y * weight) / norm
        vx = smooth(x * x * weight) / norm - mx * mx
        cxy = smooth(x * y * weight) / norm - mx * my
        slope = cxy / (np.maximum(vx, 0.0) + np.float32(FIT_EPSILON))
        np.maximum(residual, np.abs(y - (slope * (x - mx) + my)), out=residual)
    return residual


CLIPPED = 0.98             # a reference channel at or above this is clipped: departures cannot judge there
HUE_TOLERANCE = 0.06       # chromaticity (r, g, b over their sum) further than this from the short frame's ...
LEVEL_TOLERANCE = 1.0      # ... or a level more than this many stops from it, departs
MIN_HUE_CLUSTER = 25       # px: misalignment leaves thin specks; a wrong colour fills an area


def clipped_departures(hdr: np.ndarray, reference: np.ndarray, short_aligned: np.ndarray, short_time: float,
                       response: CameraResponse) -> Departures:
    """Departures of a merge where its reference is clipped, which ``departures`` cannot judge.

    There the shortest frame is the evidence: where it is well exposed, the merge should have its
    colour and its level. ``short_aligned``: that frame warped onto the reference (float32
    (H, W, 3) LDR in [0, 1]; the merge's own alignment); ``short_time``: its exposure relative to
    the shortest frame (1 for the shortest). Pixels whose chromaticity differs from the short
    frame's by more than ``HUE_TOLERANCE``, or whose level by more than ``LEVEL_TOLERANCE`` stops,
    in clusters of at least ``MIN_HUE_CLUSTER`` px, depart: a clipped highlight rendered white or
    magenta, or a blocky patch of another frame's colour. ``share`` is over the judged pixels.
    """
    low, high = WELL_EXPOSED
    judged = np.any(reference >= CLIPPED, axis=2) & np.all((short_aligned > low) & (short_aligned < high), axis=2)
    departed = np.zeros(judged.shape, bool)
    if judged.any():
        seen = response.to_linear(short_aligned[judged]) / np.float32(short_time)
        merged = np.maximum(hdr[judged].astype(np.float32), 1e-6)
        hue = np.abs(merged / merged.sum(axis=1, keepdims=True) - seen / np.maximum(seen.sum(axis=1, keepdims=True),
                                                                                      1e-6)).max(axis=1)
        level = np.abs(np.log2(merged.mean(axis=1) / np.maximum(seen.mean(axis=1), 1e-6)))
        departed[judged] = (hue > HUE_TOLERANCE) | (level > LEVEL_TOLERANCE)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(departed.astype(np.uint8), connectivity=8)
    big = stats[:, cv2.CC_STAT_AREA] >= MIN_HUE_CLUSTER
    big[0] = False
    mask = big[labels]
    total = int(judged.sum())
    return Departures(float(mask.sum() / total) if total else 0.0, mask, float(judged.mean()), 0.0)
