"""Per-pixel frame weights driven by an LDR value x in [0, 1] (SPEC §2.4 and §3).

One home for the triangle ("hat") shape that SelfHDR uses three times: the color
component's fixed weights (SPEC §2.4), the well-exposedness weight of stage 1
(SPEC §3, equal to w_ref) and the prior of FastNet's fusion logits; Debevec's hat
weight is the same curve. Works on numpy arrays and torch tensors alike.
"""

from __future__ import annotations

import numpy as np


def _relu(x):
    return x.clamp_min(0.0) if hasattr(x, "clamp_min") else np.maximum(x, np.float32(0.0))


def _clip01(x):
    return x.clamp(0.0, 1.0) if hasattr(x, "clamp") and not isinstance(x, np.ndarray) \
        else np.clip(x, 0.0, 1.0).astype(np.float32, copy=False)


def hat_weight(ldr):
    """w(x) = 1 − |2x − 1|: 0 at black and at clipping, 1 at mid-grey.

    Equals SPEC §3's well-exposedness w (2x below 0.5, else 2 − 2x) and SPEC §2.4's
    w_ref; x is clipped to [0, 1]. Same shape and array type as ``ldr``.
    """
    x = _clip01(ldr)
    return 1.0 - abs(2.0 * x - 1.0)


well_exposedness = hat_weight  # SPEC §3's name for it


def triangle_weights(reference_ldr):
    """(w_short, w_ref, w_long) from the reference LDR value x = I_r (SPEC §2.4).

    x < 0.5: (0, 2x, 1 − 2x); x ≥ 0.5: (2x − 1, 2 − 2x, 0). Dark reference pixels take
    the long frame, bright ones the short frame; the three sum to 1 per channel.

    Parameters
    ----------
    reference_ldr : ndarray or torch.Tensor, values in [0, 1] (clipped), any shape.

    Returns
    -------
    Three arrays of the input's shape and type.
    """
    x = _clip01(reference_ldr)
    return _relu(2.0 * x - 1.0), hat_weight(x), _relu(1.0 - 2.0 * x)
