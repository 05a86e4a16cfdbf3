"""The color component Y_color: fixed-weight merge of aligned frames (SPEC §2.4).

Inputs are aligned LDR frames, float32 (H, W, 3) RGB in [0, 1], sorted by exposure;
the output is HDR in short-exposure units (H = g(I) / t with t_1 = 1), float32.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from selfhdr_cli.errors import UsageError
from selfhdr_cli.merge.align import AlignConfig, align_bracket_with_coverage
from selfhdr_cli.merge.bracket import Bracket
from selfhdr_cli.merge.device import map_pieces
from selfhdr_cli.merge.snr import (
    Seams,
    SNRMergeConfig,
    black_level,
    code_bits,
    estimate_noise,
    merge_snr_detailed,
    static_gate,
)
from selfhdr_cli.radiometry.luma import rec709_luma
from selfhdr_cli.radiometry.response import CameraResponse
from selfhdr_cli.radiometry.weighting import triangle_weights

COLOR_MERGES = ("triangle", "snr")
DEFAULT_COLOR_MERGE = "snr"  # chosen on the validation split (benchmarks/color_merge_choice.py)


@dataclass(frozen=True)
class ColorConfig:
    """Settings of the color component: camera response, alignment, and the fixed merge.

    ``merge``: ``snr`` (the default: ``merge.snr``, every frame by its SNR, noise fitted from
    the bracket, disagreeing frames rejected) or ``triangle`` (SPEC §2.4, the paper's Y_color).
    """

    response: CameraResponse
    align: AlignConfig
    merge: str
    seams: Seams = Seams()  # the SNR merge's seam settings (chosen by measurement; Seams.hard(): the old merge)

    def __post_init__(self) -> None:
        if self.merge not in COLOR_MERGES:
            raise UsageError(f"unknown color merge {self.merge!r}; choose one of {', '.join(COLOR_MERGES)}")


@dataclass
class ColorResult:
    """Y_color, the aligned LDR frames it was merged from (exposure order) and the static gate
    (``merge.snr.static_gate``: (H, W) float32, 1 where Y_color is the answer as it stands);
    with the SNR merge, ``stats``."""

    y_color: np.ndarray
    aligned: list[np.ndarray]
    gate: np.ndarray | None
    stats: MergeStats | None = None


@dataclass(frozen=True)
class MergeStats:
    """What the SNR merge took from where: ``frame_shares`` (N,), each frame's mean share of the
    pixels' weight (exposure order, sums to 1 over measured pixels), and ``rejected``, the share
    of pixels where at least one frame was rejected as disagreeing with the reference."""

    frame_shares: tuple[float, ...]
    rejected: float
    alignment_residual_stops: tuple[float | None, ...] = ()  # ``alignment_residuals``, when measured


RESIDUAL_LEVELS = (0.04, 0.92)  # LDR: both frames' values within this, in every channel, for a residual
RESIDUAL_STRIDE = 2             # every other row and column: the mean needs no more


def alignment_residuals(aligned: list[np.ndarray], relative_times: np.ndarray, reference: int,
                        response: CameraResponse, covered: list[np.ndarray] | None = None
                        ) -> tuple[float | None, ...]:
    """How far each aligned frame still differs from the reference: the mean |log2| ratio (stops) of
    their linear lumas, each brought to the reference's exposure, where both are well exposed
    (``RESIDUAL_LEVELS``) and the frame saw the scene. Small (≈ 0.02–0.1) for a registered static
    bracket; misregistration, moving objects and a wrong response raise it. Exposure order; None
    for the reference and for frames sharing under 1 % well-exposed pixels with it.
    ``aligned``: float32 (H, W, 3) LDR in [0, 1]; ``relative_times`` (N,)."""
    step = slice(None, None, RESIDUAL_STRIDE)
    low, high = RESIDUAL_LEVELS
    ref = aligned[reference][step, step]
    ref_ok = np.all((ref > low) & (ref < high), axis=-1)
    ref_luma = rec709_luma(response.to_linear(ref)) / np.float32(relative_times[reference])
    out: list[float | None] = []
    for k, frame in enumerate(aligned):
        if k == reference:
            out.append(None)
            continue
        part = frame[step, step]
        ok = ref_ok & np.all((part > low) & (part < high), axis=-1)
        if covered is not None:
            ok &= covered[k][step, step]
        if ok.mean() < 0.01:
            out.append(None)
            continue
        luma = rec709_luma(response.to_linear(part)) / np.float32(relative_times[k])
        ratio = np.log2(np.maximum(luma[ok], 1e-12) / np.maximum(ref_luma[ok], 1e-12))
        out.append(round(float(np.mean(np.abs(ratio))), 4))
    return tuple(out)


def merge_triangle(aligned: list[np.ndarray], relative_times: np.ndarray, reference: int,
                   response: CameraResponse) -> np.ndarray:
    """Y_color = w_s·H̃_short + w_r·H_ref + w_l·H̃_long with SPEC §2.4's fixed weights.

    Parameters
    ----------
    aligned : list of ndarray, float32 (H, W, 3), LDR in [0, 1]
        Frames in exposure order, already warped onto the reference.
    relative_times : ndarray (N,)
        Exposure times relative to the shortest frame (t_1 = 1).
    reference : int
        Index of the reference frame; its LDR value drives the weights.
    response : CameraResponse
        g, to linearise: H_k = g(I_k) / t_k.

    Returns
    -------
    ndarray, float32 (H, W, 3): HDR in short-exposure units, in [0, 1].

    With more than three frames the shortest and longest play short and long; where
    the reference is itself the shortest (or longest), its weight absorbs the missing
    frame's, so the result stays a convex combination.
    """
    t = np.asarray(relative_times, dtype=np.float64)
    ref_ldr = aligned[reference]
    w_short, w_ref, w_long = triangle_weights(ref_ldr)
    h_ref = response.to_linear(ref_ldr) / np.float32(t[reference])
    out = w_ref * h_ref
    last = len(aligned) - 1
    if reference > 0:
        out += w_short * (response.to_linear(aligned[0]) / np.float32(t[0]))
    else:
        out += w_short * h_ref
    if reference < last:
        out += w_long * (response.to_linear(aligned[last]) / np.float32(t[last]))
    else:
        out += w_long * h_ref
    return out.astype(np.float32)


def merge_color(aligned: list[np.ndarray], relative_times: np.ndarray, reference: int,
                 config: ColorConfig, covered: list[np.ndarray] | None = None) -> np.ndarray:
    """Y_color from already aligned frames with ``config.merge``: ``merge_triangle`` (SPEC §2.4)
    or ``merge.snr.merge_snr`` with the noise fitted from the bracket. Same contract as
    ``merge_triangle``; ``covered`` as in ``merge_snr`` (the triangle merge, as SPEC, ignores it)."""
    return color_and_gate(aligned, relative_times, reference, config, gate=False, covered=covered)[0]


STRIP_ROWS = 256   # the SNR merge and the gate run in strips of rows: bounded memory on 24 MP
STRIP_HALO = 32    # rows above and below each strip: more than the gate's and rejection's reach
NOISE_FIT_ROWS = 1024  # the noise model is fitted on at most this many central rows


def color_and_gate(aligned: list[np.ndarray], relative_times: np.ndarray, reference: int,
                    config: ColorConfig, gate: bool = True,
                    covered: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(Y_color, static gate or None): ``color_gate_and_stats`` without the stats."""
    return color_gate_and_stats(aligned, relative_times, reference, config, gate, covered)[:2]


def color_gate_and_stats(aligned: list[np.ndarray], relative_times: np.ndarray, reference: int,
                         config: ColorConfig, gate: bool = True, covered: list[np.ndarray] | None = None
                         ) -> tuple[np.ndarray, np.ndarray | None, MergeStats | None]:
    """(Y_color, static gate or None, MergeStats or None for the triangle merge): ``merge_color``
    and, with ``gate``, ``merge.snr.static_gate`` under the same noise model fitted once from
    the bracket (whatever ``config.merge`` is).

    Both run in strips of ``STRIP_ROWS`` rows with a halo, so their temporaries stay a few
    hundred MB on a 24 MP bracket; the result is the same as in one piece."""
    snr_config = None
    if config.merge == "snr" or gate:
        rows = _central_rows(aligned[0].shape[0], NOISE_FIT_ROWS)
        # 8-bit frames carry a quantisation noise the 16-bit default would call exact: the
        # rejection then throws away the long frame in the shadows (reference == aligned[reference])
        bits = code_bits([aligned[reference]])
        noise = estimate_noise([a[rows] for a in aligned], relative_times, config.response, bits=bits,
                               covered=[c[rows] for c in covered] if covered is not None else None)
        snr_config = SNRMergeConfig(noise=noise, black=black_level(bits), seams=config.seams)
    height, width = aligned[0].shape[:2]
    y = np.empty(aligned[reference].shape, np.float32)
    g = np.empty(aligned[reference].shape[:2], np.float32) if gate else None
    share_sums = np.zeros((len(aligned), height), np.float64)  # per row: strips write their own rows
    rejected_rows = np.zeros(height, np.float64)

    def strip(top: int) -> None:  # writes its own rows of y and g: strips run in threads
        bottom = min(height, top + STRIP_ROWS)
        lo, hi = max(0, top - STRIP_HALO), min(height, bottom + STRIP_HALO)
        part = [a[lo:hi] for a in aligned]
        seen = [c[lo:hi] for c in covered] if covered is not None else None
        keep = slice(top - lo, bottom - lo)
        agree = None
        if config.merge == "snr":
            merged, agree, shares = merge_snr_detailed(part, relative_times, reference, config.response, snr_config,
                                                       seen)
            y[top:bottom] = merged[keep]
            share_sums[:, top:bottom] = shares[:, keep].sum(axis=2)
            if snr_config.reject_sigma > 0:  # a rejected value weighs exactly 0; feathered edges do not count
                rejected_rows[top:bottom] = (agree[keep] <= 0).sum(axis=1)
        else:
            y[top:bottom] = merge_triangle(part, relative_times, reference, config.response)[keep]
        if gate:
            g[top:bottom] = static_gate(part, relative_times, reference, config.response, snr_config, seen,
                                        agree)[keep]

    map_pieces(strip, range(0, height, STRIP_ROWS), (STRIP_ROWS + 2 * STRIP_HALO) * width)
    stats = None
    if config.merge == "snr":
        totals = share_sums.sum(axis=1)
        stats = MergeStats(tuple(float(v) for v in totals / max(float(totals.sum()), 1e-30)),
                           float(rejected_rows.sum() / (height * width)))
    return y, g, stats


def _central_rows(height: int, limit: int) -> slice:
    start = max(0, (height - limit) // 2)
    return slice(start, min(height, start + limit))


def build_color(bracket: Bracket, config: ColorConfig, gate: bool = True) -> ColorResult:
    """Align every frame of ``bracket`` to its reference and merge them into Y_color (SPEC §2).

    Returns Y_color (float32 (H, W, 3), short-exposure units), the aligned LDR frames
    (float32 (H, W, 3) in [0, 1], exposure order) and the static gate (None without ``gate``).
    """
    aligned, covered = align_bracket_with_coverage(bracket.frames, bracket.times, bracket.reference,
                                                   config.response, config.align, bracket.rigid_motions)
    y, g, stats = color_gate_and_stats(aligned, bracket.relative_times, bracket.reference, config, gate, covered)
    if stats is not None:
        stats = replace(stats, alignment_residual_stops=alignment_residuals(
            aligned, bracket.relative_times, bracket.reference, config.response, covered))
    return ColorResult(y_color=y, aligned=aligned, gate=g, stats=stats)
