"""Running a network on whole images: tiling with overlap and blending, devices, threads.

Inputs are numpy: ``ldr`` three (H, W, 3) float32 frames in [0, 1] in exposure order
(short, reference, long) — a list or a stacked array — ``aligned`` the same warped onto
the reference (or None), ``times`` (3,) relative exposure times, ``guide`` (H, W, 4) Y_color and the
static gate for networks that want them (or None). Output: (H, W, 3) float32 HDR in short-exposure units.
Memory stays bounded: only one tile's tensors exist at a time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
import torch
from torch import nn

from selfhdr_cli.merge.network import AUTO_SINGLE_TILE, AUTO_TILE, TileConfig
from selfhdr_cli.nets.weights import load_weights
from selfhdr_cli.radiometry.response import CameraResponse


def _inputs(ldr: np.ndarray, times: np.ndarray, response: CameraResponse, ys: slice, xs: slice,
            pad: tuple[int, int], device: torch.device) -> torch.Tensor:
    """(1, 3, 6, h + ph, w + pw) [H_k, I_k] of a crop, padded to the network's stride by reflection
    (as ``F.pad(mode="reflect")``), built in place: one copy of the crop, not three. The frames
    may be read-only (memory-mapped): they are only read."""
    h, w = ldr[0][ys, xs].shape[:2]
    x = torch.empty((1, len(ldr), 6, h + pad[0], w + pad[1]), dtype=torch.float32)
    view = x.numpy()
    for k, frame in enumerate(ldr):
        view[0, k, 3:, :h, :w] = np.moveaxis(frame[ys, xs], -1, 0)
        x[0, k, :3, :h, :w] = response.to_linear_tensor(x[0, k, 3:, :h, :w]) / float(times[k])
    return _reflect_fill(x, h, w).to(device)


def _guide_input(guide: np.ndarray, ys: slice, xs: slice, pad: tuple[int, int], device: torch.device) -> torch.Tensor:
    """(1, 4, h + ph, w + pw) Y_color and the gate of a crop, padded like the frames."""
    crop = guide[ys, xs]
    h, w = crop.shape[:2]
    x = torch.empty((1, crop.shape[2], h + pad[0], w + pad[1]), dtype=torch.float32)
    x.numpy()[0, :, :h, :w] = np.moveaxis(crop, -1, 0)
    return _reflect_fill(x, h, w).to(device)


def _reflect_fill(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Fill the rows below ``h`` and the columns right of ``w`` by reflection about the last row
    and column (``F.pad`` reflect; replicate where the crop is too small to reflect)."""
    ph, pw = x.shape[-2] - h, x.shape[-1] - w
    if ph:
        x[..., h:, :w] = x[..., h - 1 - ph:h - 1, :w].flip(-2) if ph < h else x[..., h - 1:h, :w]
    if pw:
        x[..., w:] = x[..., w - 1 - pw:w - 1].flip(-1) if pw < w else x[..., w - 1:w]
    return x


def _ramp(n: int, core_start: int, core_end: int, feather: int) -> np.ndarray:
    """1 on the core, linear fall-off to 0 over ``feather`` px outside it."""
    idx = np.arange(n, dtype=np.float32)
    w = np.ones(n, np.float32)
    if feather > 0:
        w = np.minimum(w, np.clip((idx - (core_start - feather)) / feather, 0, 1))
        w = np.minimum(w, np.clip(((core_end - 1 + feather) - idx) / feather, 0, 1))
    return np.maximum(w, 1e-6)


@torch.no_grad()
def predict(net: nn.Module, ldr: np.ndarray, aligned: np.ndarray | None, times: np.ndarray,
            response: CameraResponse, tiles: TileConfig = TileConfig(), device: torch.device | None = None,
            progress: Callable[[int, int], None] | None = None, guide: np.ndarray | None = None) -> np.ndarray:
    """Run ``net`` over the image in overlapping tiles and blend them.

    Parameters
    ----------
    net : nn.Module
        A registered network (``selfhdr_cli.nets``), in eval mode.
    ldr : sequence of three ndarray, float32 (H, W, 3), LDR in [0, 1]
        (short, reference, long), unaligned.
    aligned : same, warped onto the reference, or None for networks that align themselves.
    times : ndarray (3,), exposure relative to the shortest frame.
    response : CameraResponse
        g, for the networks' H_k = g(I_k) / t_k inputs (SPEC §1).
    guide : ndarray, float32 (H, W, 4), optional
        Y_color and the static gate (``color_and_gate``), for networks with ``needs_guide``.

    Returns
    -------
    ndarray, float32 (H, W, 3): HDR in short-exposure units, in [0, 1].

    Tiles start on multiples of the network's stride and overlap by its receptive field,
    so tiled and untiled results agree; only one tile's tensors exist at a time.
    """
    device = device or next(net.parameters()).device
    if getattr(net, "needs_guide", False) and guide is None:
        raise ValueError("this network needs the guide (Y_color and the static gate)")
    height, width = ldr[0].shape[:2]
    stride = int(getattr(net, "stride", 1))
    overlap = tiles.overlap if tiles.overlap is not None else int(getattr(net, "receptive_field", 32))
    overlap = -(-overlap // stride) * stride
    tile = tiles.tile
    if tile <= 0:
        tile = AUTO_SINGLE_TILE if height * width <= AUTO_SINGLE_TILE ** 2 and max(height, width) <= 2 * AUTO_SINGLE_TILE \
            else AUTO_TILE
        tile = max(tile, height, width) if tile == AUTO_SINGLE_TILE else tile
    step = max(stride, (tile // stride) * stride)
    reads_unaligned = getattr(net, "reads_unaligned", True)
    out = np.zeros((height, width, 3), np.float32)
    weight = np.zeros((height, width, 1), np.float32)
    ys = list(range(0, height, step))
    xs = list(range(0, width, step))
    total, done = len(ys) * len(xs), 0
    for y0 in ys:
        for x0 in xs:
            y1, x1 = min(y0 + step, height), min(x0 + step, width)
            ya, yb = max(0, y0 - overlap), min(height, y1 + overlap)
            xa, xb = max(0, x0 - overlap), min(width, x1 + overlap)
            sl = (slice(ya, yb), slice(xa, xb))
            h, w = yb - ya, xb - xa
            pad = ((-h) % stride, (-w) % stride)
            al = _inputs(aligned, times, response, *sl, pad, device) if aligned is not None else None
            # a network that reads only the reference of the unaligned frames (alignment leaves it as
            # is) gets the aligned tensor twice: one input pass less
            frames = al if al is not None and not reads_unaligned else _inputs(ldr, times, response, *sl, pad, device)
            gd = _guide_input(guide, *sl, pad, device) if guide is not None else None
            pred = net(frames, al, gd)[0, :, :h, :w].movedim(0, -1).float().cpu().numpy()
            if total == 1:  # the whole image in one pass: nothing to blend
                if progress:
                    progress(1, 1)
                return np.ascontiguousarray(pred)
            # blend only just outside the core: farther out a tile's own prediction lacks context
            wy = _ramp(h, y0 - ya, y1 - ya, overlap // 4)
            wx = _ramp(w, x0 - xa, x1 - xa, overlap // 4)
            blend = (wy[:, None] * wx[None, :])[..., None]
            out[sl] += pred * blend
            weight[sl] += blend
            done += 1
            if progress:
                progress(done, total)
    return out / weight


@lru_cache(maxsize=2)
def network_for(weights: str, mtime_ns: int, device: str) -> tuple[nn.Module, dict]:
    """Load once per process (batches and evaluations merge many brackets with one file)."""
    net, meta = load_weights(weights)
    if device == "cpu":
        net = net.to(memory_format=torch.channels_last)  # 1.3–1.6× faster CPU inference (PLATFORM.md)
    return net.to(device), meta


