"""Tone mapping for previews: HDR float32 (H, W, 3) RGB -> 8-bit sRGB.

Global operators, each with automatic exposure (the log-average luminance is mapped
to the key 0.18, Reinhard et al. 2002 eq. 1–2) and an optional extra exposure in stops:
``reinhard`` (L / (1 + L) on luminance, color kept by ratio; the default), ``mu-law``
(T(x) of SPEC §1 on the exposed image, as the metrics see it), ``gamma`` (plain exposure,
clip and sRGB encoding, like a camera).
"""

from __future__ import annotations

import numpy as np

from selfhdr_cli.errors import UsageError

from selfhdr_cli.radiometry.luma import rec709_luma
from selfhdr_cli.radiometry.mulaw import mu_law
from selfhdr_cli.radiometry.response import srgb_encode

KEY = 0.18


MAX_STOPS = 40  # as --ev: 2^40 is already far beyond any scene


def auto_exposure(image: np.ndarray, key: float = KEY) -> float:
    """The scale that maps the log-average luminance of ``image`` (linear HDR float (H, W, 3) RGB,
    negatives ignored) to ``key`` (Reinhard et al. 2002, eq. 1–2)."""
    lum = np.maximum(rec709_luma(np.maximum(image, 0)), 0)
    log_avg = float(np.exp(np.mean(np.log(lum + 1e-6))))
    return key / max(log_avg, 1e-6)


OPERATORS = ("reinhard", "mu-law", "gamma")


def _exposed(image: np.ndarray, key: float, stops: float, scale: float | None = None) -> np.ndarray:
    img = np.maximum(np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=0.0), 0)
    return img * np.float32((auto_exposure(img, key) if scale is None else scale) * 2.0 ** stops)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def reinhard(image: np.ndarray, key: float = KEY, stops: float = 0.0, scale: float | None = None) -> np.ndarray:
    """Global Reinhard operator (Reinhard et al. 2002, eq. 3: L / (1 + L)) on Rec.709 luminance,
    color kept by ratio.

    ``image``: linear HDR float (H, W, 3) RGB. Exposure: ``scale`` times the image when given
    (to show several images alike), else the automatic one (``auto_exposure``); then ``stops``.
    Returns uint8 (H, W, 3) sRGB-encoded RGB.
    """
    img = _exposed(image, key, stops, scale)
    scale = (1.0 / (1.0 + rec709_luma(img)))[..., None]
    return _to_u8(srgb_encode(img * scale))


def check_stops(stops: float) -> None:
    """Refuse an extra exposure that is not finite or beyond ±``MAX_STOPS`` (UsageError)."""
    if not (isinstance(stops, (int, float)) and np.isfinite(stops) and abs(stops) <= MAX_STOPS):
        raise UsageError(f"--exposure {stops!r}: extra exposure must be a number of stops within ±{MAX_STOPS}")


def tonemap(image: np.ndarray, operator: str = "reinhard", stops: float = 0.0) -> np.ndarray:
    """Tone-map linear HDR for display.

    ``image``: float (H, W, 3) RGB, any positive scale (exposure is automatic: the
    log-average luminance goes to 0.18, plus ``stops``). ``operator``: one of
    ``OPERATORS``. Returns uint8 (H, W, 3) sRGB-encoded RGB. ``stops`` must be finite, |stops| ≤
    ``MAX_STOPS`` (UsageError).
    """
    check_stops(stops)
    if operator == "reinhard":
        return reinhard(image, stops=stops)
    if operator == "mu-law":
        # exposed so the log-average sits at the key, then T (already perceptual: no sRGB curve)
        return _to_u8(mu_law(_exposed(image, KEY, stops)))
    if operator == "gamma":
        return _to_u8(srgb_encode(_exposed(image, KEY, stops)))
    raise ValueError(f"unknown tone-mapping operator {operator!r}; choose one of {', '.join(OPERATORS)}")
