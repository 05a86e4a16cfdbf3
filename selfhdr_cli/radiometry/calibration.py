"""Recovering a camera's response from static brackets: Debevec & Malik (SIGGRAPH 1997).

For each channel, the log response g(z) = ln E + ln t at every LDR level z is found by
least squares over sampled pixels of every frame, with a hat weighting of the levels
(trust the middle, not the ends) and a second-difference smoothness prior of weight λ
(eq. 3 of the paper). The result is handed on as a ``CameraResponse`` table: linear value
exp(g(z)) at evenly spaced levels, all channels scaled by one factor so that green's top
level is 1 (the channels keep their relative scale, as in the paper's radiance maps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from selfhdr_cli.errors import UsageError

SMOOTHNESS = 50.0      # λ for 256 levels (the paper's order of magnitude); scaled for finer tables
MAX_SAMPLES = 1500     # pixel locations in the system, over all brackets
FLAT_RATIO = 2.0       # any camera's linear value at 90 % of the levels is well above that at 10 %
MIN_LINEAR = 1e-6      # the lowest level's linear value is pinned to 0; the next ones stay above this


@dataclass(frozen=True)
class Calibration:
    """Per-channel linear values at ``levels`` evenly spaced LDR levels ((3, levels), strictly
    increasing, first 0), and what they were fitted on."""

    curves: np.ndarray
    levels: int
    samples: int
    smoothness: float


def calibrate_debevec(brackets: Sequence[tuple[Sequence[np.ndarray], Sequence[float]]], levels: int = 256,
                      smoothness: float = SMOOTHNESS, seed: int = 0) -> Calibration:
    """Fit the response from static brackets.

    ``brackets``: (frames, times) pairs; frames float32 (H, W, 3) LDR in [0, 1] of one static
    scene, times their exposures (any one unit per bracket). ``levels``: the table's size
    (256 for 8-bit frames; more for 16-bit ones). Raises UsageError when the brackets cannot
    constrain the curve (fewer than 2 frames, too few distinct values).
    """
    rng = np.random.default_rng(seed)
    per_bracket = max(1, MAX_SAMPLES // max(1, len(brackets)))
    codes, log_times = [], []
    for frames, times in brackets:
        if len(frames) < 2:
            raise UsageError("calibration needs brackets of at least 2 frames")
        stack = np.stack([np.round(np.clip(f, 0, 1) * (levels - 1)).astype(np.int64) for f in frames])  # (P,H,W,3)
        flat = stack.reshape(len(frames), -1, 3)
        middle = flat[len(frames) // 2].mean(axis=-1)
        # locations spread over the middle frame's levels: every part of the curve gets equations
        candidates = rng.choice(flat.shape[1], size=min(flat.shape[1], 20 * per_bracket), replace=False)
        order = candidates[np.argsort(middle[candidates], kind="stable")]
        chosen = order[np.linspace(0, len(order) - 1, min(per_bracket, len(order))).astype(int)]
        codes.append(flat[:, chosen])                       # (P, N, 3)
        log_times.append(np.log(np.asarray(times, dtype=np.float64)))
    weight = _hat(levels)
    lam = smoothness * (levels / 256.0) ** 2  # the second difference shrinks on a finer grid
    curves = np.empty((3, levels))
    for c in range(3):
        curves[c] = _solve_channel([z[:, :, c] for z in codes], log_times, levels, weight, lam)
    top = curves[1, -1]
    linear = np.exp(curves - top)
    linear[:, 0] = 0.0
    for c in range(3):  # strictly increasing: the ends, weighted least, can dip
        linear[c, 1:] = np.maximum(linear[c, 1:], MIN_LINEAR)
        linear[c] = np.maximum.accumulate(linear[c]) + np.arange(levels) * 1e-9
    low, high = int(0.1 * (levels - 1)), int(0.9 * (levels - 1))
    if np.any(linear[:, high] < FLAT_RATIO * linear[:, low]):  # wrong exposures or identical frames fit a flat curve
        raise UsageError("the fitted response is flat: the exposures given do not match the frames (order, spacing) "
                         "or the frames do not differ; check them")
    return Calibration(curves=linear, levels=levels, samples=sum(z.shape[1] for z in codes), smoothness=smoothness)


def _hat(levels: int) -> np.ndarray:
    z = np.arange(levels, dtype=np.float64)
    return np.minimum(z, levels - 1 - z) + 1.0


def _solve_channel(codes: list[np.ndarray], log_times: list[np.ndarray], levels: int, weight: np.ndarray,
                   lam: float) -> np.ndarray:
    """g for one channel: codes[b] (P_b, N_b) levels of bracket b's samples, log_times[b] (P_b,)."""
    samples = sum(z.shape[1] for z in codes)
    rows = sum(z.size for z in codes) + 1 + (levels - 2)
    a = np.zeros((rows, levels + samples))
    b = np.zeros(rows)
    r, offset = 0, levels
    for z, lt in zip(codes, log_times):
        p, n = z.shape
        for j in range(p):
            w = weight[z[j]]
            idx = np.arange(n)
            a[r + idx, z[j]] = w
            a[r + idx, offset + idx] = -w
            b[r + idx] = w * lt[j]
            r += n
        offset += n
    a[r, levels // 2] = 1.0  # g(middle) = 0 fixes the unknown scale
    r += 1
    k = np.arange(1, levels - 1)
    a[r + k - 1, k - 1] = lam * weight[k]
    a[r + k - 1, k] = -2 * lam * weight[k]
    a[r + k - 1, k + 1] = lam * weight[k]
    seen = np.unique(np.concatenate([z.ravel() for z in codes]))
    if seen.size < levels // 8:
        raise UsageError(f"the brackets show only {seen.size} distinct levels of {levels}: too little to "
                         "calibrate; use brackets of textured, static scenes")
    solution, *_ = np.linalg.lstsq(a, b, rcond=None)
    return solution[:levels]
