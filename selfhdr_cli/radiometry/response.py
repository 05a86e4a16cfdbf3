"""Camera response curves g (LDR value -> linear exposure) and their inverses.

All functions take and return float32 arrays of values in [0, 1]; channel order
and shape are preserved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfhdr_cli.errors import InputFileError, UsageError

DEFAULT_GAMMA = 2.2  # SPEC §1: the published convention g(x) = x^2.2
RESPONSE_KINDS = ("gamma", "srgb", "linear", "table")
MAX_RESPONSE_FILE_BYTES = 4 << 20  # a calibrated table is ~60 kB; more is not a response file
# a table maps LDR 0 to a linear 0 (or nearly: a black offset), and its channels' tops lie within 4 stops of
# 1 (the green top; red and blue differ by the white balance): a curve outside is not a response
TABLE_BLACK_MAX = 0.01
TABLE_TOP_RANGE = (1 / 16, 16.0)


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
    """A global camera response.

    ``kind`` is ``"gamma"`` (g(x) = x^gamma), ``"srgb"`` (IEC 61966-2-1 decoding),
    ``"linear"`` (g(x) = x) or ``"table"``: a calibrated curve per channel (``curves``: three
    increasing tuples of linear values at evenly spaced LDR levels, 0 → 0 and 1 → 1, read
    from ``source``, a response JSON written by ``selfhdr calibrate``).
    """

    kind: str
    gamma: float = DEFAULT_GAMMA
    curves: tuple = ()
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in RESPONSE_KINDS:
            raise UsageError(f"unknown camera response kind {self.kind!r}; use {', '.join(RESPONSE_KINDS)}")
        if not (isinstance(self.gamma, (int, float)) and np.isfinite(self.gamma) and 0.1 <= self.gamma <= 10):
            raise UsageError(f"invalid camera response gamma {self.gamma!r}: a number in [0.1, 10]")
        if self.kind == "table":
            curves = np.asarray(self.curves, dtype=np.float64)
            if curves.ndim != 2 or curves.shape[0] != 3 or curves.shape[1] < 2 or not np.all(np.isfinite(curves)) \
                    or np.any(np.diff(curves, axis=1) <= 0):
                raise UsageError("a response table needs three strictly increasing curves of at least 2 finite values",
                                 self.source or None)
            low, high = TABLE_TOP_RANGE
            if np.any(curves[:, 0] < 0) or np.any(curves[:, 0] > TABLE_BLACK_MAX) \
                    or np.any(curves[:, -1] < low) or np.any(curves[:, -1] > high):
                raise UsageError(f"a response table must start at 0 (at most {TABLE_BLACK_MAX:g}) and end between "
                                 f"{low:g} and {high:g}; this one runs from {curves[:, 0].min():.4g} to "
                                 f"{curves[:, -1].max():.4g}", self.source or None)

    @property
    def identity(self) -> str:
        """What this response is, by content: ``gamma:2.2``, ``srgb``, ``linear`` or
        ``table:<sha256 prefix of the curves>``. Caches and resumable runs compare this, never a
        path: a response file recalibrated in place is another response."""
        if self.kind != "table":
            return str(self)
        text = json.dumps([[round(float(v), 9) for v in c] for c in self.curves])
        return "table:" + hashlib.sha256(text.encode()).hexdigest()[:16]

    def _levels(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, len(self.curves[0]))

    def to_linear(self, ldr: np.ndarray, channels: np.ndarray | None = None) -> np.ndarray:
        """g(I) (SPEC §1): LDR values (float, any shape, clipped to [0, 1]) to linear exposure in
        [0, 1], float32. RGB on the last axis; values taken out of frames (flattened) pass
        ``channels``, each value's channel index (0, 1, 2), for per-channel (table) curves."""
        x = np.clip(ldr, 0.0, 1.0).astype(np.float32, copy=False)
        if self.kind == "table" and channels is not None:
            out = np.empty(x.shape, np.float32)
            for c in range(3):
                picked = channels == c
                out[picked] = np.interp(x[picked], self._levels(), self.curves[c])
            return out
        if self.kind == "linear":
            return x.copy()
        if self.kind == "srgb":
            return srgb_decode(x)
        if self.kind == "table":
            return self._per_channel(x, lambda c, v: np.interp(v, self._levels(), self.curves[c]))
        return np.power(x, np.float32(self.gamma))

    def from_linear(self, linear: np.ndarray) -> np.ndarray:
        """g⁻¹(L): linear exposure (float, any shape, clipped to the response's range: [0, 1], or a
        table's own [0, top] per channel) back to LDR values in [0, 1], float32."""
        if self.kind == "table":  # np.interp holds each channel within its own curve's ends
            x = np.maximum(linear, 0.0).astype(np.float32, copy=False)
            return self._per_channel(x, lambda c, v: np.interp(v, self.curves[c], self._levels()))
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
        if self.kind == "table":
            levels = self._levels()
            return self._per_channel(x, lambda c, v: np.interp(v, levels, np.gradient(self.curves[c], levels)))
        return np.float32(self.gamma) * np.power(x, np.float32(self.gamma - 1.0))

    def _per_channel(self, x: np.ndarray, curve) -> np.ndarray:
        """Apply ``curve(channel, values)`` along the last axis (RGB); any shape when the three
        curves are one."""
        if x.ndim == 0 or x.shape[-1] != 3:
            if self.curves[0] == self.curves[1] == self.curves[2]:
                return curve(0, x).astype(np.float32)
            raise ValueError("a per-channel response needs RGB on the last axis (or to_linear's channels)")
        out = np.empty(x.shape, np.float32)
        for c in range(3):
            out[..., c] = curve(c, x[..., c])
        return out

    def to_linear_tensor(self, ldr):
        """g(I) on a torch tensor (any shape, clamped to [0, 1]): the same curves as ``to_linear``,
        differentiable, in the tensor's dtype. Table responses want the channels on axis -3
        ((..., 3, H, W), the networks' layout)."""
        x = ldr.clamp(0.0, 1.0)
        if self.kind == "linear":
            return x
        if self.kind == "srgb":
            return srgb_decode(x)
        if self.kind == "table":
            import torch

            curves = torch.as_tensor(np.asarray(self.curves), dtype=x.dtype, device=x.device)  # (3, n)
            n = curves.shape[1]
            position = x * (n - 1)
            low = position.floor().clamp(0, n - 2)
            frac = position - low
            index = low.long()
            shape = [1] * x.dim()
            shape[-3] = 3
            channel = torch.arange(3, device=x.device).view(shape).expand_as(index)
            flat = curves[channel, index]
            return flat + frac * (curves[channel, index + 1] - flat)
        return x ** self.gamma

    def __str__(self) -> str:
        if self.kind == "table":
            return self.source or "table"
        return f"gamma:{self.gamma:g}" if self.kind == "gamma" else self.kind


DEFAULT_RESPONSE = CameraResponse(kind="gamma", gamma=DEFAULT_GAMMA)  # --crf's default; chosen at the CLI only


def response_document(curves: np.ndarray, record: dict) -> bytes:
    """A response file's bytes (JSON): ``record`` (method, frames, ...) and the curves
    ``curves`` (3, levels) as {"r", "g", "b"} lists of linear values at evenly spaced LDR levels."""
    document = {**record, "curves": {c: [round(float(v), 9) for v in curves[i]] for i, c in enumerate("rgb")}}
    return (json.dumps(document, indent=1) + "\n").encode()


def read_response_file(path: str | Path) -> CameraResponse:
    """A calibrated response from its JSON (``selfhdr calibrate``): {"curves": {"r", "g", "b"}, ...}."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_RESPONSE_FILE_BYTES:
            raise InputFileError(f"{path.stat().st_size / 2**20:.0f} MiB is too large for a response file "
                                 f"(at most {MAX_RESPONSE_FILE_BYTES >> 20} MiB)", path)
        data = json.loads(path.read_text(encoding="utf-8"))
        curves = tuple(tuple(float(v) for v in data["curves"][c]) for c in ("r", "g", "b"))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as exc:
        why = {"KeyError": "no curves r, g, b", "TypeError": "curves are not lists of numbers",
               "RecursionError": "nested too deeply"}.get(exc.__class__.__name__, exc.__class__.__name__)
        raise InputFileError(f"not a response file from 'selfhdr calibrate' ({why})", path) from None
    if len({len(c) for c in curves}) != 1:
        raise InputFileError("response curves of different lengths", path)
    try:
        return CameraResponse(kind="table", curves=curves, source=str(path))
    except UsageError as exc:  # the file's content is at fault, not the command
        raise InputFileError(exc.problem, path) from None


def parse_response(text: str) -> CameraResponse:
    """Parse ``gamma:2.2``, ``gamma`` (2.2), ``srgb``, ``linear`` or a response ``.json`` file."""
    if text.strip().lower().endswith(".json"):
        path = Path(text.strip())
        if path.is_dir():
            raise UsageError("is a folder, not a response file", path)
        if path.exists() and not path.is_file():
            raise UsageError("not a regular file (a response file is JSON from 'selfhdr calibrate')", path)
        if not path.exists():
            raise UsageError("no such response file (make one with 'selfhdr calibrate')", path)
        return read_response_file(path)
    spec = text.strip().lower()
    if spec in ("srgb", "linear"):
        return CameraResponse(kind=spec)
    if spec == "gamma":
        return DEFAULT_RESPONSE
    if spec.startswith("gamma:"):
        try:
            gamma = float(spec.split(":", 1)[1])
        except ValueError:
            gamma = float("nan")
        if not np.isfinite(gamma) or not 0.1 <= gamma <= 10:
            raise UsageError(f"invalid camera response {text!r}: gamma must be a number in [0.1, 10]")
        return CameraResponse(kind="gamma", gamma=gamma)
    raise UsageError(f"invalid camera response {text!r}: use gamma:G, srgb, linear or a response .json")
