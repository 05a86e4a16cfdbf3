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
    increasing, first 0), and what they were fitted on: ``samples`` pixel locations kept,
    ``rejected`` the share of locations dropped because the frames disagreed there (motion),
    ``residual_stops`` the rms misfit of the kept ones, in stops."""

    curves: np.ndarray
    levels: int
    samples: int
    smoothness: float
    rejected: float = 0.0
    residual_stops: float = 0.0
    prior_residual_stops: float = float("nan")  # the prior curve's own rms misfit on the kept locations


REJECT_STOPS = 3.0     # a location whose frames disagree with the fit by more than this × the median moved
MIN_REJECT_STOPS = 0.25  # ... and never by less than this: noise alone stays under it
MONOTONE_SLACK = 0.02   # of the levels: noise can darken a static pixel this much between exposures
REFITS = 3              # rounds of dropping the locations that disagree with the fit, then refitting
WARN_RESIDUAL_STOPS = 0.15  # a kept fit worse than this: the brackets move, or their exposures are wrong


def calibrate_debevec(brackets: Sequence[tuple[Sequence[np.ndarray], Sequence[float]]], levels: int = 256,
                      smoothness: float = SMOOTHNESS, seed: int = 0, prior: np.ndarray | None = None,
                      prior_weight: float = 0.0) -> Calibration:
    """Fit the response from brackets of static scenes, robust to some motion.

    ``brackets``: (frames, times) pairs; frames float32 (H, W, 3) LDR in [0, 1] of one scene,
    times their exposures (any one unit per bracket). ``levels``: the table's size (256 for
    8-bit frames; more for 16-bit ones). Pixel locations are sampled (the frames are never
    stacked whole: a 12 MP bracket costs what a small one does), the curve is fitted, the
    locations whose frames disagree with it (something moved there) are dropped, and it is
    fitted again. Raises UsageError when the brackets cannot constrain the curve (fewer than
    2 frames, too few distinct values, a flat fit).

    ``prior``: a curve to lean on where the data say little, (levels,) linear values (e.g. gamma
    2.2's) with weight ``prior_weight`` per level in the least squares (in log units, beside
    each sample's unit weight). It also fixes the curve's scale (the prior's, on average),
    where without one green's top level is set to 1.
    """
    log_prior = None
    if prior is not None and prior_weight > 0:
        log_prior = np.log(np.maximum(np.asarray(prior, dtype=np.float64), MIN_LINEAR))
    rng = np.random.default_rng(seed)
    per_bracket = max(1, MAX_SAMPLES // max(1, len(brackets)))
    codes, log_times, candidates_dropped = [], [], []
    for frames, times in brackets:
        if len(frames) < 2:
            raise UsageError("calibration needs brackets of at least 2 frames")
        pixels = frames[0].shape[0] * frames[0].shape[1]
        candidates = np.sort(rng.choice(pixels, size=min(pixels, 40 * per_bracket), replace=False))
        candidates = _flattest(frames, candidates)
        y, x = np.divmod(candidates, frames[0].shape[1])  # not reshape: a cropped view would be copied whole
        flat = np.stack([np.round(np.clip(f[y, x], 0, 1) * (levels - 1)).astype(np.int64)
                         for f in frames])  # (P, candidates, 3): only the sampled pixels are read
        middle = flat[len(frames) // 2].mean(axis=-1)
        # locations spread over the middle frame's levels: every part of the curve gets equations
        order = np.argsort(middle, kind="stable")
        chosen = order[np.linspace(0, len(order) - 1, min(per_bracket, len(order))).astype(int)]
        order_t = np.argsort(np.asarray(times, dtype=np.float64), kind="stable")
        in_order = flat[order_t][:, chosen]
        # a static pixel only brightens with the exposure, in every channel; one that darkens moved
        monotone = np.all(np.diff(in_order, axis=0) >= -MONOTONE_SLACK * (levels - 1), axis=(0, 2))
        if monotone.mean() >= 0.5:  # most darkening: the exposures are in the wrong order, not motion
            chosen, dropped = chosen[monotone], int((~monotone).sum())
        else:
            dropped = 0
        candidates_dropped.append(dropped)
        codes.append(flat[:, chosen])                       # (P, N, 3)
        log_times.append(np.log(np.asarray(times, dtype=np.float64)))
    weight = _hat(levels)
    lam = smoothness * (levels / 256.0) ** 2  # the second difference shrinks on a finer grid
    total = sum(z.shape[1] for z in codes) + sum(candidates_dropped)
    curves, misfit = _fit(codes, log_times, levels, weight, lam, log_prior, prior_weight)
    for _ in range(REFITS):  # drop what disagrees with the fit (motion), refit, until nothing is dropped
        threshold = max(MIN_REJECT_STOPS, REJECT_STOPS * float(np.median(np.concatenate(misfit))))
        keep = [m <= threshold for m in misfit]
        if all(k.all() for k in keep) or sum(int(k.sum()) for k in keep) < levels // 2:
            break
        codes = [z[:, k] for z, k in zip(codes, keep)]
        curves, misfit = _fit(codes, log_times, levels, weight, lam, log_prior, prior_weight)
    kept = sum(z.shape[1] for z in codes)
    residual = float(np.sqrt(np.mean(np.concatenate(misfit) ** 2)))
    prior_residual = float("nan")
    if log_prior is not None:  # how well the prior alone explains the same locations: is the fit worth it?
        fixed = np.repeat(np.where(np.isfinite(log_prior), log_prior, np.log(MIN_LINEAR))[None, :], 3, axis=0)
        prior_misfit = _misfit_of(fixed, codes, log_times, weight)
        prior_residual = float(np.sqrt(np.mean(np.concatenate(prior_misfit) ** 2)))
    top = curves[1, -1] if log_prior is None else 0.0  # with a prior, its scale stands
    linear = np.exp(curves - top)
    linear[:, 0] = 0.0
    for c in range(3):  # strictly increasing: the ends, weighted least, can dip
        linear[c, 1:] = np.maximum(linear[c, 1:], MIN_LINEAR)
        linear[c] = np.maximum.accumulate(linear[c]) + np.arange(levels) * 1e-9
    low, high = int(0.1 * (levels - 1)), int(0.9 * (levels - 1))
    if np.any(linear[:, high] < FLAT_RATIO * linear[:, low]):  # wrong exposures or identical frames fit a flat curve
        raise UsageError("the fitted response is flat: the exposures given do not match the frames (order, spacing) "
                         "or the frames do not differ; check them")
    return Calibration(curves=linear, levels=levels, samples=kept, smoothness=smoothness,
                       rejected=1.0 - kept / max(1, total), residual_stops=residual,
                       prior_residual_stops=prior_residual)


def _misfit_of(curves: np.ndarray, codes: list[np.ndarray], log_times: list[np.ndarray],
               weight: np.ndarray) -> list[np.ndarray]:
    """Per bracket, each location's misfit in stops under log curves (3, levels): the largest, over
    its channels and well-weighted frames, |g(z) − ln E − ln t|, ln E the best one for g (the
    weighted mean over its frames, as ``_solve_channel`` eliminates it)."""
    trusted = weight >= 0.1 * weight.max()  # levels near black or white say little about the fit
    misfit = [np.zeros(z.shape[1]) for z in codes]
    for c in range(3):
        g = curves[c]
        for b, (z, lt) in enumerate(zip(codes, log_times)):
            zc = z[:, :, c]
            log_e = _best_log_e(g, zc, lt, weight)
            error = np.abs(g[zc] - log_e[None, :] - lt[:, None]) / np.log(2.0)
            misfit[b] = np.maximum(misfit[b], np.where(trusted[zc], error, 0.0).max(axis=0))
    return misfit


def _frame_shares(z: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(P, N): each frame's share of a location's ln E, for levels ``z`` (P frames, N locations)."""
    w = weight[z]
    return w ** 2 / np.sum(w ** 2, axis=0)


def _best_log_e(g: np.ndarray, z: np.ndarray, lt: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(N,): the ln E that fits log curve ``g`` best at each location (levels ``z`` (P, N), ln t ``lt`` (P,))."""
    return np.sum(_frame_shares(z, weight) * (g[z] - lt[:, None]), axis=0)


FLAT_REACH = 3  # px: a location's neighbourhood, for how flat it is


def _flattest(frames: Sequence[np.ndarray], candidates: np.ndarray) -> np.ndarray:
    """The flatter half of the candidate locations (sorted flat indices), judged in every frame by
    the largest change over ``FLAT_REACH`` px: in flat regions a pixel or two of parallax, shake
    or JPEG ringing leaves the values as they are, so the frames still see one scene point."""
    height, width = frames[0].shape[:2]
    y, x = np.divmod(candidates, width)
    change = np.zeros(candidates.size)
    for frame in frames:
        def gray(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:  # only the locations asked: no whole-frame copy
            values = frame[yy, xx]
            return values.mean(axis=1) if values.ndim == 2 else values

        here = gray(y, x)
        for dy, dx in ((FLAT_REACH, 0), (-FLAT_REACH, 0), (0, FLAT_REACH), (0, -FLAT_REACH)):
            there = gray(np.clip(y + dy, 0, height - 1), np.clip(x + dx, 0, width - 1))
            np.maximum(change, np.abs(there - here), out=change)
    keep = np.sort(np.argsort(change, kind="stable")[: max(1, candidates.size // 2)])
    return candidates[keep]


def _fit(codes: list[np.ndarray], log_times: list[np.ndarray], levels: int, weight: np.ndarray,
         lam: float, log_prior: np.ndarray | None = None, prior_weight: float = 0.0
         ) -> tuple[np.ndarray, list[np.ndarray]]:
    """(log curves (3, levels), per bracket each location's misfit in stops: the largest, over its
    channels and well-weighted frames, |g(z) − ln E − ln t|)."""
    curves = np.empty((3, levels))
    for c in range(3):
        curves[c] = _solve_channel([z[:, :, c] for z in codes], log_times, levels, weight, lam, log_prior, prior_weight)
    return curves, _misfit_of(curves, codes, log_times, weight)


def _hat(levels: int) -> np.ndarray:
    z = np.arange(levels, dtype=np.float64)
    return np.minimum(z, levels - 1 - z) + 1.0


def _solve_channel(codes: list[np.ndarray], log_times: list[np.ndarray], levels: int, weight: np.ndarray,
                   lam: float, log_prior: np.ndarray | None = None, prior_weight: float = 0.0) -> np.ndarray:
    """g for one channel: codes[b] (P_b, N_b) levels of bracket b's samples, log_times[b] (P_b,).

    Debevec & Malik's least squares (eq. 3) with the unknown irradiances eliminated: for fixed
    g the best ln E_i is the weighted mean of g(z_ij) − ln t_j over its frames, so the system in
    g alone (``levels`` unknowns, not ``levels`` + samples) has the same solution, and a 12 MP
    bracket's sample solves in milliseconds (``_best_log_e`` gives ln E back)."""
    blocks, targets = [], []
    seen = np.unique(np.concatenate([z.ravel() for z in codes]))
    if seen.size < levels // 8:
        raise UsageError(f"the brackets show only {seen.size} distinct levels of {levels}: too little to "
                         "calibrate; use brackets of textured, static scenes")
    for z, lt in zip(codes, log_times):
        p, n = z.shape
        w = weight[z]                                   # (P, N)
        v = _frame_shares(z, weight)                    # (P, N): each frame's share of ln E_i
        rows = np.zeros((p * n, levels))
        row_index = np.arange(p * n).reshape(p, n)
        columns = z                                     # (P, N)
        for j in range(p):  # row (j, i): w_ij · (e_{z_ij} − Σ_k v_ik e_{z_ik})
            np.add.at(rows, (row_index[j], columns[j]), w[j])
            for k in range(p):
                np.add.at(rows, (row_index[j], columns[k]), -w[j] * v[k])
        mean_lt = np.sum(v * lt[:, None], axis=0)        # (N,)
        blocks.append(rows)
        targets.append((w * (lt[:, None] - mean_lt[None, :])).reshape(-1))
    if log_prior is None:
        scale = np.zeros((1, levels))
        scale[0, levels // 2] = 1.0  # g(middle) = 0 fixes the unknown scale
        scale_target = np.zeros(1)
    else:  # g(z) ≈ ln prior(z) at every level but black (ln 0), weakly: the data win where they speak
        scale = np.zeros((levels - 1, levels))
        scale[np.arange(levels - 1), np.arange(1, levels)] = prior_weight
        scale_target = prior_weight * log_prior[1:]
    k = np.arange(1, levels - 1)
    smooth = np.zeros((levels - 2, levels))
    smooth[k - 1, k - 1] = lam * weight[k]
    smooth[k - 1, k] = -2 * lam * weight[k]
    smooth[k - 1, k + 1] = lam * weight[k]
    a = np.vstack([*blocks, scale, smooth])
    b = np.concatenate([*targets, scale_target, np.zeros(levels - 2)])
    # the normal equations: (levels × levels) whatever the sample count; the scale row and the
    # smoothness prior make them well posed (an SVD of the tall system costs 20× more here)
    return np.linalg.solve(a.T @ a, a.T @ b)
