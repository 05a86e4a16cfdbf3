"""Classical hat-weighted merge without alignment (Debevec & Malik 1997), the baseline.

Frames float32 (H, W, 3) RGB in [0, 1] sorted by exposure; output HDR in
short-exposure units, float32.
"""

from __future__ import annotations

import numpy as np

from selfhdr_cli.radiometry.response import CameraResponse
from selfhdr_cli.radiometry.weighting import hat_weight

_EPS = 1e-4


def merge_debevec(frames: list[np.ndarray], relative_times: np.ndarray, response: CameraResponse) -> np.ndarray:
    """The classical merge (Debevec & Malik 1997, eq. 6): H = Σ w(I_k)·g(I_k)/t_k / Σ w(I_k), per channel.

    Parameters
    ----------
    frames : list of ndarray, float32 (H, W, 3), LDR in [0, 1], exposure order, unaligned
    relative_times : ndarray (N,), exposure relative to the shortest frame
    response : CameraResponse

    Returns
    -------
    ndarray, float32 (H, W, 3), short-exposure units. Pixels with no usable frame fall
    back to the shortest frame where it is bright (clipped everywhere) and to the longest
    frame otherwise (black everywhere).
    """
    t = np.asarray(relative_times, dtype=np.float64)
    num = np.zeros_like(frames[0], dtype=np.float32)
    den = np.zeros_like(frames[0], dtype=np.float32)
    for frame, tk in zip(frames, t):
        w = hat_weight(frame)
        num += w * (response.to_linear(frame) / np.float32(tk))
        den += w
    fallback = np.where(frames[0] > 0.5, response.to_linear(frames[0]) / np.float32(t[0]),
                        response.to_linear(frames[-1]) / np.float32(t[-1]))
    return np.where(den > _EPS, num / np.maximum(den, _EPS), fallback).astype(np.float32)
