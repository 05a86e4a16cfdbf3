"""Camera response curves g (LDR value -> linear exposure) and their inverses.

All functions take and return float32 arrays of values in [0, 1]; channel order
and shape are preserved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfhdr_cli.errors import UsageError

DEFAULT_GAMMA = 2.2  # SPEC §1: the published convention g(x) = x^2.2
RESPONSE_KINDS = ("gamma", "srgb", "linear")


def srgb_decode(encoded):
    """IEC 61966-2-1 decoding: sRGB-encoded values in [0, 1] (clipped) to linear [0, 1].

    numpy in, float32 out; a torch tensor in, a tensor of its dtype out.
    """
    if hasattr(encoded, "clamp") and not isinstance(encoded, np.ndarray):
        x = encoded.clamp(0.0, 1.0)
        low = (x <= 0.04045).to(x.dtype)
        return low * (x / 12.92) + (1.0 - low) * ((x + 0.055) / 1.055) ** 2.4
    x = np.clip(encoded, 0.0, 1.0).astype(np.float32, copy=False)
    return np.where(x <= 0.04045, x / np.float32(12.92), ((x + np.float32(0.055)) / np.float32(1.055)) ** np.float32(2.4)
                    ).astype(np.float32)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 encoding: linear values in [0, 1] (clipped) to sRGB-encoded [0, 1], float32."""
    x = np.clip(linear, 0.0, 1.0).astype(np.float32, copy=False)
    return np.where(x <= 0.0031308, x * np.float32(12.92),
                    np.float32(1.055) * np.power(x, np.float32(1 / 2.4)) - np.float32(0.055)).astype(np.float32)


@dataclass(frozen=True)
class CameraResponse:
    """A global, channel-independent camera response.

    ``kind`` is ``"gamma"`` (g(x) = x^gamma), ``"srgb"`` (IEC 61966-2-1 decoding)
    or ``"linear"`` (g(x) = x).
    """

    kind: str = "gamma"
    gamma: float = DEFAULT_GAMMA

    def __post_init__(self) -> None:
        if self.kind not in RESPONSE_KINDS:
            raise UsageError(f"unknown camera response kind {self.kind!r}; use {', '.join(RESPONSE_KINDS)}")
        if not (isinstance(self.gamma, (int, float)) and np.isfinite(self.gamma) and 0.1 <= self.gamma <= 10):
            raise UsageError(f"invalid camera response gamma {self.gamma!r}: a number in [0.1, 10]")

    def to_linear(self, ldr: np.ndarray) -> np.ndarray:
        """g(I) (SPEC §1): LDR values (float, any shape, clipped to [0, 1]) to linear exposure in
        [0, 1], float32."""
        x = np.clip(ldr, 0.0, 1.0).astype(np.float32, copy=False)
        if self.kind == "linear":
            return x.copy()
        if self.kind == "srgb":
            return srgb_decode(x)
        return np.power(x, np.float32(self.gamma))

    def from_linear(self, linear: np.ndarray) -> np.ndarray:
        """g⁻¹(L): linear exposure (float, any shape, clipped to [0, 1]) back to LDR values in
        [0, 1], float32."""
        x = np.clip(linear, 0.0, 1.0).astype(np.float32, copy=False)
        if self.kind == "linear":
            return x.copy()
        if self.kind == "srgb":
            return srgb_encode(x)
        return np.power(x, np.float32(1.0 / self.gamma))

    def slope(self, ldr: np.ndarray) -> np.ndarray:
        """g'(I), the response's derivative at LDR values ``ldr`` (float, any shape, clipped to
        [0, 1]), float32: how far one LDR step moves the linear value (noise propagation)."""
        x = np.clip(ldr, 0.0, 1.0).astype(np.float32, copy=False)
        if self.kind == "linear":
            return np.ones_like(x)
        if self.kind == "srgb":
            curve = np.float32(2.4 / 1.055) * np.power((x + np.float32(0.055)) / np.float32(1.055), np.float32(1.4))
            return np.where(x <= 0.04045, np.float32(1 / 12.92), curve).astype(np.float32)
        return np.float32(self.gamma) * np.power(x, np.float32(self.gamma - 1.0))

    def to_linear_tensor(self, ldr):
        """g(I) on a torch tensor (any shape, clamped to [0, 1]): the same curves as ``to_linear``,
        differentiable, in the tensor's dtype."""
        x = ldr.clamp(0.0, 1.0)
        if self.kind == "linear":
            return x
        if self.kind == "srgb":
            return srgb_decode(x)
        return x ** self.gamma

    def __str__(self) -> str:
        return f"gamma:{self.gamma:g}" if self.kind == "gamma" else self.kind


def parse_response(text: str) -> CameraResponse:
    """Parse ``gamma:2.2``, ``gamma`` (2.2), ``srgb`` or ``linear``."""
    spec = text.strip().lower()
    if spec in ("srgb", "linear"):
        return CameraResponse(kind=spec)
    if spec == "gamma":
        return CameraResponse()
    if spec.startswith("gamma:"):
        try:
            gamma = float(spec.split(":", 1)[1])
        except ValueError:
            gamma = float("nan")
        if not np.isfinite(gamma) or not 0.1 <= gamma <= 10:
            raise UsageError(f"invalid camera response {text!r}: gamma must be a number in [0.1, 10]")
        return CameraResponse(kind="gamma", gamma=gamma)
    raise UsageError(f"invalid camera response {text!r}: use gamma:G, srgb or linear")
