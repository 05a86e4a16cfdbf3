"""Rec.709 relative luminance (ITU-R BT.709 primaries, linear RGB)."""

from __future__ import annotations

import numpy as np

REC709_RGB = (0.2126, 0.7152, 0.0722)


def rec709_luma(rgb: np.ndarray) -> np.ndarray:
    """Y = 0.2126 R + 0.7152 G + 0.0722 B.

    Parameters
    ----------
    rgb : ndarray, shape (..., 3)
        Linear RGB in any units (or non-linear values, for a luma such as flow input).

    Returns
    -------
    ndarray, shape (...), the input's float dtype.
    """
    r, g, b = REC709_RGB
    return rgb[..., 0] * r + rgb[..., 1] * g + rgb[..., 2] * b
