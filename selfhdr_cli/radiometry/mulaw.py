"""The μ-law tone map T of SPEC §1, the domain of every loss and of the "-μ" metrics.

One definition for numpy arrays and torch tensors (dispatched on the argument's type,
without importing torch): T(x) = log(1 + μx) / log(1 + μ), μ = 5000, on x **clipped to
[0, 1]**. In short-exposure units nothing a bracket measures exceeds 1 (SPEC §1: the
ground truth is clipped there and the networks end in a sigmoid), so clipping changes
no valid value and makes the metric and the losses see the same T.
"""

from __future__ import annotations

import math

import numpy as np

MU = 5000.0  # SPEC §1


def _is_tensor(x) -> bool:
    return hasattr(x, "clamp") and not isinstance(x, np.ndarray)


def mu_law(hdr, mu: float = MU):
    """T(x) = log(1 + μx) / log(1 + μ) (SPEC §1).

    Parameters
    ----------
    hdr : ndarray or torch.Tensor
        Linear HDR in short-exposure units, any shape; clipped to [0, 1].
    mu : float
        Compression, 5000 in SPEC §1.

    Returns
    -------
    Same type and shape, values in [0, 1]: float32 for numpy, the input dtype for torch.
    """
    if _is_tensor(hdr):
        return (hdr.clamp(0.0, 1.0) * mu).log1p() / math.log1p(mu)
    x = np.clip(np.asarray(hdr, dtype=np.float32), 0.0, 1.0)
    return (np.log1p(np.float32(mu) * x) / np.float32(math.log1p(mu))).astype(np.float32)


def inverse_mu_law(tone, mu: float = MU):
    """T⁻¹(t) = ((1 + μ)^t − 1) / μ: μ-law values in [0, 1] back to short-exposure units.

    numpy in, float32 out; a torch tensor in, a tensor of its dtype out.
    """
    if _is_tensor(tone):
        return (tone * math.log1p(mu)).expm1() / mu
    t = np.asarray(tone, dtype=np.float32)
    return (np.expm1(t * np.float32(math.log1p(mu))) / np.float32(mu)).astype(np.float32)
