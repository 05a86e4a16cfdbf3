"""FastNet's forward pass in numpy, for merging on a CPU without torch.

``merge --method net`` with FastNet weights on a CPU runs here: importing torch alone takes
≈ 1.5 s and ≈ 300 MB on the project machine, more than the whole network costs. The
arithmetic is that of ``nets.fastnet.FastNet.forward`` (``tests/test_fastnet_numpy.py``
holds the two to 1e-4), in channels-last float32: 3×3 convolutions as one matrix product per
strip of rows (BLAS), PyTorch's bilinear upsampling (``align_corners=False``) by gathering.

A guided FastNet's output is Y_color exactly where the static gate is 1, so only what can
change is computed: the low-resolution U-Net on the bounding box of the pixels whose gate is
below 1, widened by the network's receptive field, and the full-resolution fusion on blocks
holding such pixels. An unguided FastNet runs everywhere.

Arrays: frames float32 (H, W, 3) RGB LDR in [0, 1]; HDR in short-exposure units.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfhdr_cli.errors import InputFileError
from selfhdr_cli.io.native import decoder_reason
from selfhdr_cli.io.weights_file import read_weights_metadata
from selfhdr_cli.radiometry.mulaw import inverse_mu_law, mu_law
from selfhdr_cli.radiometry.response import CameraResponse
from selfhdr_cli.radiometry.weighting import triangle_weights

STRIDE = 16                    # FastNet.stride
RECEPTIVE_FIELD = 96           # FastNet.receptive_field, full-resolution px
REFINE_HALO = 3                # the refinement's three 3×3 convolutions
BLOCK = 64                     # full-resolution blocks: only those holding a gate below 1 are computed
CONV_STRIP_BYTES = 24 << 20    # the gathered 3×3 neighbourhoods of one strip of rows, at most
GUIDED_FRAME_PRIOR = 0.02      # nets.fastnet.GUIDED_FRAME_PRIOR
FLOW_SCALE = 4.0               # nets.fastnet.FLOW_SCALE
LEAK = 0.1                     # FastNet's LeakyReLU slope


@dataclass(frozen=True)
class FastNetWeights:
    """A FastNet's tensors as numpy arrays (state-dict names) and its config."""

    tensors: dict[str, np.ndarray]
    width: int
    context: int
    refine: int
    guide: bool
    flow: bool = False  # a residual flow of the outer frames (nets.fastnet.warp_outer_frames)

    @property
    def candidates(self) -> int:
        return 4 if self.guide else 3


def _expected_shapes(width: int, context: int, refine: int, guide: bool, flow: bool) -> dict[str, tuple[int, ...]]:
    w, h = width, width + width // 2
    extra = 4 if guide else 0
    logits = 3 * (4 if guide else 3)
    convs = {"enc1.0.0": (w, 18 + extra), "enc1.1.0": (w, w), "enc2.0.0": (h, w), "enc2.1.0": (h, h),
             "enc3.0.0": (2 * w, h), "enc3.1.0": (2 * w, 2 * w), "enc3.2.0": (2 * w, 2 * w),
             "dec2.0": (h, 2 * w + h), "dec1.0": (w, h + w), "head": (logits + context + (4 if flow else 0), w),
             "refine.0.0": (refine, 9 + context + (1 if guide else 0)), "refine.1.0": (refine, refine),
             "refine.2": (3, refine)}
    shapes = {}
    for name, (cout, cin) in convs.items():
        shapes[f"{name}.weight"] = (cout, cin, 3, 3)
        shapes[f"{name}.bias"] = (cout,)
    shapes["pixel_logits.weight"] = (logits, 9 + (1 if guide else 0), 1, 1)
    shapes["pixel_logits.bias"] = (logits,)
    return shapes


def load_fastnet_weights(path: str | Path) -> tuple[FastNetWeights, dict]:
    """A FastNet weights file (``selfhdr train``) read without torch: (weights, metadata with
    ``network``, ``config``, ``info``). Anything else, or tensors that do not fit the config,
    or non-finite values: InputFileError. Nothing is unpickled (safetensors)."""
    from safetensors.numpy import load_file

    meta = read_weights_metadata(path)
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise InputFileError(f"not a usable weights file ({decoder_reason(exc)})", path) from None
    if meta["network"] != "fastnet":
        raise InputFileError(f"holds a {meta['network']} network, not fastnet", path)
    config = meta["config"]
    known = {"width", "context", "refine", "guide", "flow"}
    if set(config) - known:
        raise InputFileError(f"weights describe a fastnet this version cannot build (settings {sorted(config)})", path)
    width, context = int(config.get("width", 32)), int(config.get("context", 4))
    refine, guide = int(config.get("refine", 8)), bool(config.get("guide", False))
    flow = bool(config.get("flow", False))
    expected = _expected_shapes(width, context, refine, guide, flow)
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    if shapes != expected:
        wrong = sorted(set(shapes) ^ set(expected)) or sorted(k for k in expected if shapes[k] != expected[k])
        raise InputFileError(f"weights do not match fastnet ({wrong[0]})", path)
    bad = [k for k, v in tensors.items() if not np.isfinite(v).all()]
    if bad:
        raise InputFileError(f"weights hold NaN or infinite values ({bad[0]}): not usable", path)
    tensors = {k: np.ascontiguousarray(v, np.float32) for k, v in tensors.items()}
    return FastNetWeights(tensors, width, context, refine, guide, flow), meta


# --- layers (channels-last float32) --------------------------------------------------------------

def conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1,
            leaky: bool = True) -> np.ndarray:
    """``nn.Conv2d(cin, cout, 3, stride, padding=1)`` (+ LeakyReLU(0.1)) on (H, W, cin) float32:
    (H', W', cout), zero padding, as PyTorch."""
    height, width, channels = x.shape
    cout = weight.shape[0]
    out_h, out_w = (height - 1) // stride + 1, (width - 1) // stride + 1
    padded = np.zeros((height + 2, width + 2, channels), np.float32)
    padded[1:-1, 1:-1] = x
    matrix = weight.transpose(2, 3, 1, 0).reshape(9 * channels, cout)  # (ky, kx, cin) rows
    out = np.empty((out_h, out_w, cout), np.float32)
    rows = max(1, CONV_STRIP_BYTES // max(1, out_w * 9 * channels * 4))
    for top in range(0, out_h, rows):
        bottom = min(out_h, top + rows)
        taps = np.empty((bottom - top, out_w, 9, channels), np.float32)
        for ky in range(3):
            for kx in range(3):
                taps[:, :, 3 * ky + kx] = padded[ky + stride * top: ky + stride * (bottom - 1) + 1: stride,
                                                 kx: kx + stride * (out_w - 1) + 1: stride]
        np.matmul(taps.reshape(-1, 9 * channels), matrix, out=out[top:bottom].reshape(-1, cout))
    out += bias
    if leaky:
        np.maximum(out, out * np.float32(LEAK), out=out)
    return out


def _bilinear_axis(positions: np.ndarray, scale: float, size_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For output pixel indices ``positions`` of an upsampling by ``scale`` (output/input), the two
    input indices and the weight of the second, as ``F.interpolate(mode="bilinear",
    align_corners=False)`` computes them."""
    source = np.maximum((positions.astype(np.float32) + np.float32(0.5)) / np.float32(scale) - np.float32(0.5), 0)
    low = np.minimum(np.floor(source).astype(np.int64), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    return low, high, (source - low).astype(np.float32)


def upsample(x: np.ndarray, size: tuple[int, int], rows: tuple[int, int] | None = None,
             cols: tuple[int, int] | None = None) -> np.ndarray:
    """Bilinear upsampling of (h, w, C) to ``size`` (H, W), as ``F.interpolate(..., size,
    mode="bilinear", align_corners=False)``; ``rows``/``cols`` (start, stop): only that window of
    the output."""
    h, w = x.shape[:2]
    rows = rows or (0, size[0])
    cols = cols or (0, size[1])
    y0, y1, fy = _bilinear_axis(np.arange(*rows), size[0] / h, h)
    x0, x1, fx = _bilinear_axis(np.arange(*cols), size[1] / w, w)
    fy, fx = fy[:, None, None], fx[None, :, None]
    top = x[y0][:, x0] * (1 - fx) + x[y0][:, x1] * fx
    bottom = x[y1][:, x0] * (1 - fx) + x[y1][:, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32, copy=False)


# --- the network ---------------------------------------------------------------------------------

@dataclass
class _Frames:
    """The network's per-pixel inputs over a window: aligned LDR (3, h, w, 3), HDR H_k, and the guide."""

    ldr: np.ndarray
    hdr: np.ndarray
    guide: np.ndarray | None


def _indices(span: tuple[int, int], size: int) -> slice | np.ndarray:
    """Indices of ``span``; past the image's end reflected about its last pixel, as ``F.pad(mode="reflect")``
    pads a tile to the stride (replicated where the image is too small to reflect)."""
    if span[1] <= size:
        return slice(*span)
    return _reflected(np.arange(*span), size)


def _reflected(index: np.ndarray, size: int) -> np.ndarray:
    """``index`` with values past the image's end reflected about its last pixel (replicated where
    the image is too small to reflect): where the stride padding puts them."""
    reflected = 2 * (size - 1) - index
    return np.where(index < size, index, np.where(reflected >= 0, reflected, size - 1))


def _frames(aligned: list[np.ndarray], times: np.ndarray, response: CameraResponse, guide: np.ndarray | None,
            rows: tuple[int, int], cols: tuple[int, int]) -> _Frames:
    height, width = aligned[0].shape[:2]
    r, c = _indices(rows, height), _indices(cols, width)

    def window(a: np.ndarray) -> np.ndarray:
        return np.asarray(a[r][:, c] if isinstance(c, np.ndarray) else a[r, c], np.float32)

    ldr = np.stack([window(frame) for frame in aligned])
    hdr = np.stack([response.to_linear(ldr[k]) / np.float32(times[k]) for k in range(3)])
    return _Frames(ldr, hdr, None if guide is None else window(guide))


POOL_STRIP = 64  # full-resolution rows pooled at a time (a multiple of 4)


def _pooled_input(aligned: list[np.ndarray], times: np.ndarray, response: CameraResponse,
                  guide: np.ndarray | None, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """The U-Net's input: ``avg_pool2d(x, 4)`` of FastNet's full-resolution input over a window
    (a multiple of 16 px; past the image's end reflected), pooled strip by strip so that the
    full-resolution stack never exists whole."""
    pieces = []
    for y in range(rows[0], rows[1], POOL_STRIP):
        f = _frames(aligned, times, response, guide, (y, min(y + POOL_STRIP, rows[1])), cols)
        parts = []
        for k in range(3):
            parts += [mu_law(f.hdr[k]), f.ldr[k]]
        if f.guide is not None:
            parts += [mu_law(f.guide[..., :3]), f.guide[..., 3:4]]
        x = np.concatenate(parts, axis=-1)
        h, w, c = x.shape
        pieces.append(x.reshape(h // 4, 4, w // 4, 4, c).mean(axis=(1, 3), dtype=np.float32))
    return np.concatenate(pieces, axis=0)


def _context(weights: FastNetWeights, low: np.ndarray) -> np.ndarray:
    """The low-resolution U-Net: head (logits and context features) at 1/4 resolution."""
    t = weights.tensors

    def conv(x, name, stride=1, leaky=True):
        return conv3x3(x, t[f"{name}.weight"], t[f"{name}.bias"], stride, leaky)

    e1 = conv(conv(low, "enc1.0.0"), "enc1.1.0")
    e2 = conv(conv(e1, "enc2.0.0", 2), "enc2.1.0")
    e3 = conv(conv(conv(e2, "enc3.0.0", 2), "enc3.1.0"), "enc3.2.0")
    d2 = conv(np.concatenate([upsample(e3, e2.shape[:2]), e2], axis=-1), "dec2.0")
    d1 = conv(np.concatenate([upsample(d2, e1.shape[:2]), e1], axis=-1), "dec1.0")
    return conv(d1, "head", leaky=False)


def _fuse(weights: FastNetWeights, f: _Frames, head: np.ndarray) -> np.ndarray:
    """The full-resolution part over a window: fusion weights (the prior, the upsampled head and the
    per-pixel 1×1 logits), the fused HDR, the refinement and, guided, the gate. (h, w, 3)."""
    t = weights.tensors
    n, candidates = 3 * weights.candidates, weights.candidates
    h, w = f.ldr.shape[1:3]
    ref_ldr = f.ldr[1]
    x_ref = np.clip(ref_ldr, 0.0, 1.0)
    pixel_in = [f.ldr[0], x_ref, f.ldr[2]]
    candidates_hdr = list(f.hdr)
    if weights.guide:
        y_color, gate = f.guide[..., :3], f.guide[..., 3:4]
        pixel_in.append(gate)
        candidates_hdr.append(y_color)
        prior = np.log(np.float32([GUIDED_FRAME_PRIOR] * 3 + [1 - 3 * GUIDED_FRAME_PRIOR]) + np.float32(1e-4))
        prior = prior[:, None]  # (candidate, 1): every channel
    else:
        prior = np.log(np.stack(triangle_weights(x_ref), axis=-2) + np.float32(1e-4))  # (h, w, candidate, channel)
    pixel_w = t["pixel_logits.weight"][:, :, 0, 0]
    pixel = np.concatenate(pixel_in, axis=-1).reshape(-1, pixel_w.shape[1]) @ pixel_w.T + t["pixel_logits.bias"]
    logits = (head[..., :n].reshape(-1, n) + pixel).reshape(h, w, candidates, 3) + prior
    logits -= logits.max(axis=2, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=2, keepdims=True)
    fused = np.einsum("hwkc,khwc->hwc", logits, np.stack(candidates_hdr), optimize=True)
    t_fused = np.clip(mu_law(fused), 1e-4, 1 - 1e-4)
    refine_in = [t_fused, mu_law(f.hdr[1]), ref_ldr, head[..., n:n + weights.context]] + ([f.guide[..., 3:4]] if weights.guide else [])
    r = np.concatenate(refine_in, axis=-1)
    r = conv3x3(r, t["refine.0.0.weight"], t["refine.0.0.bias"])
    r = conv3x3(r, t["refine.1.0.weight"], t["refine.1.0.bias"])
    residual = conv3x3(r, t["refine.2.weight"], t["refine.2.bias"], leaky=False)
    logit = np.log(t_fused) - np.log1p(-t_fused) + residual
    t_out = np.float32(0.5) * (1 + np.tanh(np.float32(0.5) * logit))  # the sigmoid, without overflow
    out = np.clip(inverse_mu_law(t_out), 0.0, 1.0)
    if weights.guide:
        gate = f.guide[..., 3:4]
        out = gate * np.clip(f.guide[..., :3], 0.0, 1.0) + (1 - gate) * out
    return out.astype(np.float32, copy=False)


def _warp_outer_frames(f: _Frames, aligned: list[np.ndarray], times: np.ndarray, response: CameraResponse,
                       flow: np.ndarray, origin: tuple[int, int], padded: tuple[int, int]) -> None:
    """Replace the short and long frames of ``f`` (a window at ``origin`` of the image reflected to
    ``padded``) by themselves sampled at (x + dx, y + dy): ``warp_outer_frames`` of FastNet, whose
    bilinear weights apply to H_k and I_k alike, coordinates clamped to the padded image."""
    height, width = aligned[0].shape[:2]
    h, w = flow.shape[:2]
    ys = np.arange(origin[0], origin[0] + h, dtype=np.float32)[:, None]
    xs = np.arange(origin[1], origin[1] + w, dtype=np.float32)[None, :]

    for k, (dx, dy) in ((0, (flow[..., 0], flow[..., 1])), (2, (flow[..., 2], flow[..., 3]))):
        sx = np.clip(xs + dx, 0, padded[1] - 1)
        sy = np.clip(ys + dy, 0, padded[0] - 1)
        x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
        x1, y1 = np.minimum(x0 + 1, padded[1] - 1), np.minimum(y0 + 1, padded[0] - 1)
        fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
        x0, x1, y0, y1 = _reflected(x0, width), _reflected(x1, width), _reflected(y0, height), _reflected(y1, height)
        ldr = np.zeros((h, w, 3), np.float32)
        hdr = np.zeros((h, w, 3), np.float32)
        for yi, xi, weight in ((y0, x0, (1 - fy) * (1 - fx)), (y0, x1, (1 - fy) * fx),
                               (y1, x0, fy * (1 - fx)), (y1, x1, fy * fx)):
            corner = np.asarray(aligned[k][yi, xi], np.float32)
            ldr += weight * corner
            hdr += weight * (response.to_linear(corner) / np.float32(times[k]))
        f.ldr[k], f.hdr[k] = ldr, hdr


def _span(indices: np.ndarray, margin: int, size: int, align: int) -> tuple[int, int]:
    """[first − margin, last + margin] of ``indices``, the start rounded down to ``align``,
    the length up to a multiple of it (past ``size`` when the window reaches the end: padded)."""
    start = max(0, int(indices.min()) - margin) // align * align
    stop = min(size, int(indices.max()) + 1 + margin)
    return start, start + -(-(stop - start) // align) * align


def predict_fastnet(weights: FastNetWeights, aligned: list[np.ndarray], times: np.ndarray,
                    response: CameraResponse, guide: np.ndarray | None = None) -> np.ndarray:
    """FastNet on a whole image, without torch.

    Parameters
    ----------
    weights : FastNetWeights (``load_fastnet_weights``).
    aligned : three float32 (H, W, 3) LDR frames in [0, 1], (short, reference, long), warped onto
        the reference (FastNet reads the reference from them too).
    times : (3,) exposure relative to the shortest frame.
    response : CameraResponse, g for the inputs H_k = g(I_k) / t_k.
    guide : float32 (H, W, 4), Y_color and the static gate (``merge.network.network_guide``);
        required by guided weights.

    Returns
    -------
    float32 (H, W, 3), HDR in short-exposure units in [0, 1]: ``FastNet.forward`` of the image,
    to float rounding.
    """
    if weights.guide and guide is None:
        raise ValueError("these FastNet weights were trained with the guide (Y_color and the static gate): pass guide")
    height, width = aligned[0].shape[:2]
    times = np.asarray(times, np.float32)
    if weights.guide:
        out = np.clip(guide[..., :3], 0.0, 1.0).astype(np.float32)  # the answer wherever the gate is 1
        moving = guide[..., 3] < 1
        if not moving.any():
            return out
        rows_with, cols_with = np.nonzero(moving.any(axis=1))[0], np.nonzero(moving.any(axis=0))[0]
        rows = _span(rows_with, RECEPTIVE_FIELD, height, STRIDE)
        cols = _span(cols_with, RECEPTIVE_FIELD, width, STRIDE)
    else:
        out = np.empty((height, width, 3), np.float32)
        moving = None
        rows = (0, -(-height // STRIDE) * STRIDE)
        cols = (0, -(-width // STRIDE) * STRIDE)
    head = _context(weights, _pooled_input(aligned, times, response, guide, rows, cols))
    window = (rows[1] - rows[0], cols[1] - cols[0])
    # FastNet runs on the image reflected to a multiple of the stride, zero-padded beyond
    padded_h, padded_w = -(-height // STRIDE) * STRIDE, -(-width // STRIDE) * STRIDE
    for y in range(rows[0] // BLOCK * BLOCK, min(rows[1], height), BLOCK):  # blocks on the image's grid
        for x in range(cols[0] // BLOCK * BLOCK, min(cols[1], width), BLOCK):
            y_end, x_end = min(y + BLOCK, height), min(x + BLOCK, width)
            if moving is not None and not moving[y:y_end, x:x_end].any():
                continue
            ya, yb = max(0, y - REFINE_HALO), min(padded_h, y_end + REFINE_HALO)  # the refinement's halo
            xa, xb = max(0, x - REFINE_HALO), min(padded_w, x_end + REFINE_HALO)
            f = _frames(aligned, times, response, guide, (ya, yb), (xa, xb))
            block_head = upsample(head, window, (ya - rows[0], yb - rows[0]), (xa - cols[0], xb - cols[0]))
            if weights.flow:
                _warp_outer_frames(f, aligned, times, response,
                                   block_head[..., 3 * weights.candidates + weights.context:] * np.float32(FLOW_SCALE),
                                   (ya, xa), (padded_h, padded_w))
            fused = _fuse(weights, f, block_head)
            out[y:y_end, x:x_end] = fused[y - ya: y_end - ya, x - xa: x_end - xa]
    return out
