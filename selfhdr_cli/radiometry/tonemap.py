"""Tone mapping for previews: HDR float32 (H, W, 3) RGB -> 8-bit sRGB.

Global operators, each with automatic exposure (the log-average luminance is mapped
to the key 0.18, Reinhard et al. 2002 eq. 1–2) and an optional extra exposure in stops:
``reinhard`` (L / (1 + L) on luminance, colour kept by ratio; the default), ``mu-law``
(T(x) of SPEC §1 on the exposed image, as the metrics see it), ``gamma`` (plain exposure,
clip and sRGB encoding, like a camera).
"""

from __future__ import annotations

import numpy as np

KEY = 0.18


def luminance(image: np.ndarray) -> np.ndarray:
    """Rec.709 relative luminance of linear RGB, shape (H, W)."""
    return image[..., 0] * 0.2126 + image[..., 1] * 0.7152 + image[..., 2] * 0.0722


def auto_exposure(image: np.ndarray, key: float = KEY) -> float:
    """Scale that maps the log-average luminance to ``key`` (Reinhard 2002, eq. 1–2)."""
    lum = np.maximum(luminance(np.maximum(image, 0)), 0)
    log_avg = float(np.exp(np.mean(np.log(lum + 1e-6))))
    return key / max(log_avg, 1e-6)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 encoding of linear [0, 1] values."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


OPERATORS = ("reinhard", "mu-law", "gamma")


def _exposed(image: np.ndarray, key: float, stops: float) -> np.ndarray:
    img = np.maximum(np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=0.0), 0)
    return img * np.float32(auto_exposure(img, key) * 2.0 ** stops)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def reinhard(image: np.ndarray, key: float = KEY, stops: float = 0.0) -> np.ndarray:
    """Global Reinhard operator on luminance, colour kept by ratio; returns uint8 sRGB."""
    img = _exposed(image, key, stops)
    scale = (1.0 / (1.0 + luminance(img)))[..., None]
    return _to_u8(srgb_encode(img * scale))


def tonemap(image: np.ndarray, operator: str = "reinhard", stops: float = 0.0) -> np.ndarray:
    """Tone-map HDR (H, W, 3) float to (H, W, 3) uint8 with one of ``OPERATORS``."""
    if operator == "reinhard":
        return reinhard(image, stops=stops)
    if operator == "mu-law":
        # exposed so the log-average sits at the key, then T (already perceptual: no sRGB curve)
        return _to_u8(mu_law(_exposed(image, KEY, stops)))
    if operator == "gamma":
        return _to_u8(srgb_encode(_exposed(image, KEY, stops)))
    raise ValueError(f"unknown tone-mapping operator {operator!r}; choose one of {', '.join(OPERATORS)}")


def mu_law(image: np.ndarray, mu: float = 5000.0) -> np.ndarray:
    """T(x) = log(1 + μx) / log(1 + μ) (SPEC §1) on x clipped to [0, 1]; float32."""
    x = np.clip(image, 0.0, 1.0).astype(np.float32)
    return (np.log1p(np.float32(mu) * x) / np.float32(np.log1p(mu))).astype(np.float32)
