"""A noise-optimal merge of aligned frames: every frame weighted by its signal-to-noise ratio.

The first departure SPEC §8 names (the robust recipe). Each frame's radiance estimate
H_k = g(I_k) / t_k is weighted by 1 / var(H_k) under a noise model (shot and read noise on
the linear value, plus the LDR quantisation step carried through g); clipped values get no
weight; a frame that disagrees with the reference by more than ``reject_sigma`` standard
deviations (motion the flow missed) is dropped at that pixel, the robustness idea of burst
pipelines (HDR+). Where every frame is clipped, the shortest frame's value stands.

It is the default color component of the robust recipe (``ColorConfig(merge="snr")``); SPEC §2.4's
triangle merge stays selectable (``--color-merge triangle``, ``--recipe paper``). ``static_gate``
marks where this merge stands as the final answer and a network need not touch it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from selfhdr_cli.errors import UsageError
from selfhdr_cli.merge.device import map_pieces
from selfhdr_cli.radiometry.channels import channel_max, channel_mean, channel_sum
from selfhdr_cli.radiometry.response import CameraResponse


@dataclass(frozen=True)
class NoiseModel:
    """Noise of a frame's linear value L = g(I) in [0, 1]: var = shot·L + read² + (g'(I)·Δ)²/12,
    with Δ = 1 / (2^bits − 1) the LDR quantisation step. The defaults are a guess for a
    16-bit bracket of a small sensor (the synthetic benchmark's camera uses the same form)."""

    shot: float = 2e-4
    read: float = 1e-3
    bits: int = 16

    def __post_init__(self) -> None:
        if not (self.shot >= 0 and self.read >= 0 and self.shot + self.read > 0):
            raise UsageError(f"noise model needs shot, read ≥ 0 and not both 0 (got {self.shot}, {self.read})")
        if not 1 <= self.bits <= 32:
            raise UsageError(f"noise model bits must be 1..32, got {self.bits}")

    def linear_variance(self, ldr: np.ndarray, response: CameraResponse,
                        linear: np.ndarray | None = None) -> np.ndarray:
        """Variance of g(I) for LDR values ``ldr`` (float32 (..., 3) in [0, 1]); float32, same shape.
        ``linear``: g(ldr) when the caller has it already (saves a pass on large frames)."""
        step = np.float32(1.0 / (2 ** self.bits - 1))
        if linear is None:
            linear = response.to_linear(ldr)
        quantisation = np.square(response.slope(ldr) * step)
        quantisation *= np.float32(1.0 / 12.0)
        quantisation += np.float32(self.shot) * linear
        quantisation += np.float32(self.read ** 2)
        return quantisation


@dataclass(frozen=True)
class Seams:
    """What keeps the SNR merge free of seams on real brackets (each chosen by measurement:
    ``benchmarks/seamless_ablation.py``). The all-off value, ``Seams.hard()``, is the merge as
    it was: hard clipping per channel, a hard per-pixel rejection judged on noise alone.

    ``clip_taper``: width (LDR) below the clipping level over which a frame's weight falls
    smoothly to 0, so the merge is continuous in the pixel values (no contour where a frame
    starts to clip); ``dark_taper``: the same above the black level. ``joint_clip``: a frame
    clipped in any channel is not used for the others either (no hue shift where one channel
    of a bright colour clips) unless no other frame measures them. ``feather``: σ (px) of the
    Gaussian that softens the rejection mask after growing it by ⌈σ⌉ px, so no block edge or
    1-px seam follows a rejection; 0: hard. ``model_error``: relative error of the radiance
    estimates beyond noise (a response that is not quite the camera's), added to the agreement
    test so that frames that differ by that much are averaged, not rejected.
    """

    clip_taper: float = 0.2
    dark_taper: float = 3.0 / 255.0
    joint_clip: bool = True
    feather: float = 2.0
    model_error: float = 0.0  # measured and left off: 0.05 cost 0.4 dB on the validation split, no real-bracket gain

    @classmethod
    def hard(cls) -> "Seams":
        return cls(clip_taper=0.0, dark_taper=0.0, joint_clip=False, feather=0.0, model_error=0.0)

    def __post_init__(self) -> None:
        # feather ≤ 3 px: its reach stays inside the strips' halo (merge.color.STRIP_HALO)
        if not (0 <= self.clip_taper < 0.5 and 0 <= self.dark_taper < 0.5 and 0 <= self.feather <= 3
                and self.model_error >= 0):
            raise UsageError(f"seam settings out of range: {self}")


@dataclass(frozen=True)
class SNRMergeConfig:
    """The SNR merge's settings: the noise model, the clipping level (LDR), the rejection
    threshold in standard deviations (0: no rejection), its neighbourhood (px, odd) and the
    seam settings (``Seams``)."""

    noise: NoiseModel = field(default_factory=NoiseModel)
    clip: float = 0.98
    black: float = -1.0  # LDR values at or below it measure nothing (no weight); see ``black_level``
    reject_sigma: float = 3.0
    reject_window: int = 5
    seams: Seams = field(default_factory=Seams)


def merge_snr(aligned: list[np.ndarray], relative_times: np.ndarray, reference: int,
              response: CameraResponse, config: SNRMergeConfig = SNRMergeConfig(),
              covered: list[np.ndarray] | None = None) -> np.ndarray:
    """The SNR merge alone; ``merge_snr_and_agreement`` without the agreement."""
    return merge_snr_and_agreement(aligned, relative_times, reference, response, config, covered)[0]


def merge_snr_and_agreement(aligned: list[np.ndarray], relative_times: np.ndarray, reference: int,
                            response: CameraResponse, config: SNRMergeConfig = SNRMergeConfig(),
                            covered: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``merge_snr_detailed`` without the frames' shares: (merged, agreement)."""
    merged, agree, _ = merge_snr_detailed(aligned, relative_times, reference, response, config, covered)
    return merged, agree


def merge_snr_detailed(aligned: list[np.ndarray], relative_times: np.ndarray, reference: int,
                       response: CameraResponse, config: SNRMergeConfig = SNRMergeConfig(),
                       covered: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse-variance merge of all aligned frames, clipped values excluded, disagreeing frames
    rejected per pixel.

    Parameters
    ----------
    aligned : list of ndarray, float32 (H, W, 3), LDR in [0, 1]
        Every frame of the bracket in exposure order, warped onto the reference.
    relative_times : ndarray (N,)
        Exposure times relative to the shortest frame (t_1 = 1).
    reference : int
        The reference frame: the one others must agree with.
    response : CameraResponse
        g, to linearise: H_k = g(I_k) / t_k.
    config : SNRMergeConfig
    covered : list of ndarray, bool (H, W), optional
        Where each aligned frame saw the scene (``align.align_bracket_with_coverage``): the
        out-of-frame fill is a copy of the reference and gets no weight.

    Returns
    -------
    merged : ndarray, float32 (H, W, 3): HDR in short-exposure units. Values no frame measures
        take the shortest frame's where every frame is clipped, as the triangle merge does there
        (SPEC §2.4), and the longest frame's where every frame is at or below the black level.
    agreement : ndarray, float32 (H, W): as ``agreement`` computes it (1 where no frame was rejected).
    shares : ndarray, float32 (N, H, W): each frame's share of the pixel's weight (the channels'
        mean weights, normalised to sum to 1; all 0 where no frame measures the pixel).
    """
    t = np.asarray(relative_times, dtype=np.float64)
    ref = aligned[reference]
    h_ref, var_ref = _radiance(ref, t[reference], response, config.noise)
    ref_weight = tone_weight(ref, config)
    ref_measures = ref_weight > 0
    num = np.zeros_like(h_ref)
    den = np.zeros_like(h_ref)
    agree_all = np.ones(ref.shape[:2], np.float32)
    shares = np.empty((len(aligned), *ref.shape[:2]), np.float32)
    for k, frame in enumerate(aligned):
        h, var = _radiance(frame, t[k], response, config.noise) if k != reference else (h_ref, var_ref)
        weight = tone_weight(frame, config) if k != reference else ref_weight
        if covered is not None:
            weight *= covered[k][..., None]
        if k != reference:
            agrees = _agrees(h, var, h_ref, var_ref, ref_measures, weight > 0, config)
            agree_all *= agrees
            if config.reject_sigma > 0:
                weight *= agrees[..., None]
        weight /= var
        num += weight * h
        den += weight
        shares[k] = channel_mean(weight)
    shares /= np.maximum(shares.sum(axis=0), np.float32(1e-30))
    merged = num / np.maximum(den, np.float32(1e-20))
    fallback = den <= 0
    if fallback.any():
        # no frame measured it: too bright for all (the shortest frame's value, as the triangle merge),
        # or at or below the black level in all (the longest frame's: a camera toe can hold every frame
        # of a dark region there, and the shortest would read 0)
        last = len(aligned) - 1
        dark = fallback & (aligned[last] <= config.black)
        bright = fallback & ~dark
        merged[bright] = (response.to_linear(aligned[0]) / np.float32(t[0]))[bright]
        merged[dark] = (response.to_linear(aligned[last]) / np.float32(t[last]))[dark]
    return merged.astype(np.float32), agree_all, shares


def agreement(aligned: list[np.ndarray], relative_times: np.ndarray, reference: int, response: CameraResponse,
              config: SNRMergeConfig = SNRMergeConfig(), covered: list[np.ndarray] | None = None) -> np.ndarray:
    """(H, W) float32 in [0, 1]: 1 where every other frame agrees with the reference (as
    ``merge_snr`` judges it), 0 where at least one was rejected (motion was seen), soft in
    between at the feathered edge of a rejection (``Seams.feather``; {0, 1} without it)."""
    return merge_snr_and_agreement(aligned, relative_times, reference, response, config, covered)[1]


def tone_weight(frame: np.ndarray, config: SNRMergeConfig) -> np.ndarray:
    """How far each value of an LDR frame measures the scene: float32 (H, W, 3) in [0, 1].

    0 at or above ``config.clip`` (saturated) and at or below ``config.black``; with
    ``config.seams`` it rises smoothly (a smoothstep) over ``clip_taper`` below the clip and
    ``dark_taper`` above black, and with ``joint_clip`` the bright end follows the pixel's
    largest channel, so a frame clipped in one channel keeps only a trace (``JOINT_FLOOR``) of
    weight in the others: enough where no other frame measures them, little beside one that does.
    ``frame``: float32 (H, W, 3) LDR in [0, 1].
    """
    seams = config.seams
    clip = np.float32(config.clip)
    weight = _ramp(clip - frame, seams.clip_taper)
    if seams.joint_clip:
        # the other channels keep a trace of weight: where no other frame measures them, this one still does
        weight *= np.maximum(_ramp(clip - channel_max(frame)[..., None], seams.clip_taper), np.float32(JOINT_FLOOR))
    weight *= _ramp(frame - np.float32(config.black), seams.dark_taper)
    return weight


JOINT_FLOOR = 1e-3


def _ramp(distance: np.ndarray, width: float) -> np.ndarray:
    """0 where ``distance`` ≤ 0, 1 beyond ``width``, a smoothstep between (a step when width is 0)."""
    if width <= 0:
        return (distance > 0).astype(np.float32)
    # in place: the merge calls this three times per frame and strip, on (H, W, 3) planes
    x = (distance * np.float32(1.0 / width)).astype(np.float32, copy=False)
    np.maximum(x, np.float32(0.0), out=x)
    np.minimum(x, np.float32(1.0), out=x)
    square = x * x
    x *= np.float32(-2.0)
    x += np.float32(3.0)
    square *= x
    return square


GATE_ERODE = 7        # px: the gate's transitions lie inside the agreeing area, not across motion edges
GATE_SIGMA = 2.0      # px: feathering, so that a gated output shows no seam


def static_gate(aligned: list[np.ndarray], relative_times: np.ndarray, reference: int, response: CameraResponse,
                config: SNRMergeConfig = SNRMergeConfig(), covered: list[np.ndarray] | None = None,
                agree: np.ndarray | None = None) -> np.ndarray:
    """Where the fixed merge is the answer: (H, W) float32 in [0, 1].

    1 where every frame agrees with the reference (``agreement``) and the reference is not
    clipped; 0 where motion was seen or the reference saturates (a network has work there).
    The mask is eroded by ``GATE_ERODE`` px and feathered with a Gaussian of
    ``GATE_SIGMA`` px. Same inputs as ``merge_snr``; ``agree``, when given, is their
    ``agreement`` already computed (``merge_snr_and_agreement``).
    """
    if agree is None:
        agree = agreement(aligned, relative_times, reference, response, config, covered)
    agree = agree * (channel_max(aligned[reference]) < config.clip).astype(np.float32)
    agree = cv2.erode(agree, np.ones((GATE_ERODE, GATE_ERODE), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return np.clip(cv2.GaussianBlur(agree, (0, 0), GATE_SIGMA, borderType=cv2.BORDER_REPLICATE), 0, 1)


def _radiance(ldr: np.ndarray, relative_time: float, response: CameraResponse,
              noise: NoiseModel) -> tuple[np.ndarray, np.ndarray]:
    """A frame's radiance estimate H = g(I)/t and its variance var(g(I))/t², float32 (H, W, 3)."""
    t = np.float32(relative_time)
    linear = response.to_linear(ldr)
    variance = noise.linear_variance(ldr, response, linear)
    variance /= t * t
    linear /= t
    return linear, variance


def _agrees(h: np.ndarray, var: np.ndarray, h_ref: np.ndarray, var_ref: np.ndarray, ref_measures: np.ndarray,
            measures: np.ndarray, config: SNRMergeConfig) -> np.ndarray:
    """(H, W) float32 in [0, 1]: 1 where the frame agrees with the reference within ``reject_sigma``,
    judged on the channels both measure, averaged over a small window so that noise alone
    rarely rejects. Where the reference measures nothing (clipped) there is nothing to judge.

    The deviation is scaled by the noise of both estimates plus ``seams.model_error`` of their
    level. With ``seams.feather`` the rejected area is grown by ⌈feather⌉ px, then blurred with a
    Gaussian of σ = ``feather`` px, and stays 0 where it was rejected: a soft edge around the
    motion, not a seam, and no trace of the rejected value."""
    seams = config.seams
    both = (ref_measures & measures).astype(np.float32)
    spread = var + var_ref
    if seams.model_error > 0:
        spread += np.float32(seams.model_error ** 2 / 2) * (h * h + h_ref * h_ref)
    z2 = ((h - h_ref) ** 2 / spread) * both
    count = channel_sum(both)
    z2_pixel = channel_sum(z2) / np.maximum(count, 1)
    win = int(config.reject_window)
    z2_local = cv2.blur(z2_pixel, (win, win), borderType=cv2.BORDER_REFLECT) if win > 1 else z2_pixel
    judged = count > 0
    limit = np.float32(config.reject_sigma ** 2)
    verdict = np.where(judged, z2_local < limit, True).astype(np.float32)
    if seams.feather <= 0:
        return verdict
    reach = 2 * int(np.ceil(seams.feather)) + 1
    grown = cv2.erode(verdict, np.ones((reach, reach), np.uint8), borderType=cv2.BORDER_REPLICATE)
    # the soft edge lies outside what was rejected: a frame weighted by its SNR can outweigh the others
    # 100 to 1, so even a 1 % share of a rejected value would show its ghost
    return verdict * cv2.GaussianBlur(grown, (0, 0), seams.feather, borderType=cv2.BORDER_REPLICATE)


# Warped frames are interpolated, which hides part of their noise: fitted on them, the read noise can
# collapse towards 0, and then a reading of 0 in a dark region (noise cut at black) looks exact and
# outweighs every other frame. The floor, 1/8 of an 8-bit code value, was chosen on the validation
# split: 37.79 → 38.20 dB PSNR-μ on the 8 dynamic scenes of training/prepare_data.py (2·10⁻⁴: 38.15,
# 10⁻³: 38.09), 12 static scenes unchanged (44.35).
READ_NOISE_FLOOR = 5e-4
NOISE_FIT_SAMPLES = 400_000  # per pair of frames, 1–2× this (100 k: −0.04 dB on the validation split)


def black_level(bits: int) -> float:
    """The LDR level at or below which a reading is left out of the merge. 8-bit frames come from
    cameras whose toe and black level the response curve does not model: their few darkest codes
    read 0 where a longer frame clearly sees the scene, and would look exact. 16-bit (and
    synthetic) frames keep every value: there a 0 is noise cut at black, still evidence."""
    return 2.0 / 255.0 if bits <= 8 else -1.0


def code_bits(frames: list[np.ndarray], samples: int = 20_000) -> int:
    """The bit depth the frames were stored with, from their values: 8 when every sampled value
    of every frame is a multiple of 1/255, else 16. ``frames``: float32 in [0, 1] as decoded."""
    for frame in frames:
        flat = frame.ravel()
        values = flat[:: max(1, flat.size // samples)].astype(np.float64) * 255
        if np.abs(values - np.round(values)).max() > 1e-3:
            return 16
    return 8


def estimate_noise(aligned: list[np.ndarray], relative_times: np.ndarray, response: CameraResponse,
                   bits: int = 16, clip: float = 0.98, covered: list[np.ndarray] | None = None) -> NoiseModel:
    """Fit the bracket's own shot and read noise from pairs of adjacent aligned frames.

    Where two frames both measure a pixel (unclipped, smooth, not far apart), the difference of
    their radiance estimates H_a − H_b is noise: its variance is
    shot·(L_a/t_a² + L_b/t_b²) + read²·(1/t_a² + 1/t_b²) (quantisation is small beside it). A
    least-squares fit of that line to binned medians of the squared differences (medians
    resist motion and misalignment) gives ``shot`` and ``read``, floored (``READ_NOISE_FLOOR``). ``aligned``: float32 (H, W, 3) LDR in [0, 1], exposure order; ``relative_times``
    (N,); ``covered``: as in ``merge_snr`` (the fill is no evidence). Returns a NoiseModel with ``bits``.
    """
    t = np.asarray(relative_times, dtype=np.float64)

    def pair(a: int) -> list[tuple[float, float, float]]:  # (shot feature, read feature, variance) per bin
        b = a + 1
        fa, fb = aligned[a], aligned[b]
        level = channel_mean(fb)
        gradient = np.abs(level - cv2.blur(level, (5, 5)))
        ok = (fa < clip) & (fb < clip) & (fa > 0.02) & (fb > 0.02) & (gradient < 0.01)[..., None]
        if covered is not None:
            ok &= (covered[a] & covered[b])[..., None]
        where = np.flatnonzero(ok)
        if where.size < 1000:
            return []
        where = where[::max(1, where.size // NOISE_FIT_SAMPLES)]  # a fixed stride: time bounded on 24 MP
        channels = where % 3
        la = response.to_linear(fa.ravel()[where], channels)
        lb = response.to_linear(fb.ravel()[where], channels)
        d2 = (la / t[a] - lb / t[b]) ** 2
        x_shot = la / t[a] ** 2 + lb / t[b] ** 2
        x_read = 1 / t[a] ** 2 + 1 / t[b] ** 2
        # medians of d² in 20 equal-count bins of the shot feature; for Gaussian noise, median(d²) = 0.455·var
        order = np.argsort(x_shot, kind="stable")
        return [(float(np.median(x_shot[chunk])), float(x_read), float(np.median(d2[chunk])) / 0.455)
                for chunk in np.array_split(order, 20) if chunk.size >= 50]

    bins = [row for rows in map_pieces(pair, range(len(aligned) - 1), aligned[0].size // 3) for row in rows]
    feats = [row[:2] for row in bins]
    targets = [row[2] for row in bins]
    if len(targets) < 3:
        return NoiseModel(bits=bits)  # too little to fit: the default guess, as documented
    coef, *_ = np.linalg.lstsq(np.asarray(feats), np.asarray(targets), rcond=None)
    shot = max(float(coef[0]), 1e-6)
    read = max(float(np.sqrt(max(float(coef[1]), 0.0))), READ_NOISE_FLOOR)
    return NoiseModel(shot=shot, read=read, bits=bits)
