"""Pseudo-pairs: labelled training crops made from unlabelled brackets.

The idea of FSHDR (Prabhakar et al., CVPR 2021) and of Nazarczuk et al. (2022): where a
bracket's frames agree, its colour merge Y_color is the scene's radiance up to noise. Used as
a radiance texture, it is rendered again into a new bracket whose label is known exactly:
scaled so that part of the reference clips, moved by a generator of its own (a smooth elastic
warp of the whole crop and an occluder, a polygon cut from the same scene, that moves between
frames, over pixels the reference clips in at least half of the crops), then exposed through
the response with shot and read noise and quantised. The network sees what it sees at merge
time (the frames, their alignment by the fixed layer, the guide made from them), so copying
the guide is no longer the answer where the label differs from it. Ground truth is never read.

Arrays are float32 RGB; HDR in short-exposure units (t_1 = 1), LDR in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from selfhdr_cli.evaluation.synth import RealisticCamera, jpeg_round_trip, random_camera_response
from selfhdr_cli.merge.align import align_bracket_with_coverage
from selfhdr_cli.merge.color import ColorConfig, color_gate_and_stats
from selfhdr_cli.merge.snr import NoiseModel, code_bits, estimate_noise
from selfhdr_cli.radiometry.response import CameraResponse
from selfhdr_cli.training.trainset import TrainScene


@dataclass(frozen=True)
class PseudoPairConfig:
    """How pseudo-pairs are made (defaults: the issue's recipe; not tuned on the benchmark).

    ``clip_share``: the share of the reference crop's pixels that clip, drawn uniformly.
    ``elastic``: the probability of a smooth warp of the other frames (without one, clipped
    regions that do not move are seen too: a first run warped every crop and learned to
    distrust every clipped region, −0.65 dB on the static camera scenes); ``elastic_px``: its
    largest displacement, drawn uniformly per crop. ``occluder``: the probability of a moving occluder; ``over_clipped``:
    the probability that it sits over pixels the reference clips; ``occluder_size``: its side
    as a share of the crop; ``occluder_shift_px``: how far it moves between frames, at most;
    ``occluder_peak``: its brightest values in the short frame (linear), drawn uniformly.
    ``min_agreement``: the least mean static gate of a source crop (frames agree, reference
    unclipped), best of ``tries`` draws. ``shot``, ``read``: the noise added in the linear
    domain (variance shot·x + read²); ``bits``: quantisation. ``camera``: the probability that a
    crop goes through a camera of its own instead (``evaluation.synth.random_camera_response``:
    per-channel tone curves with toe and shoulder, 8 bits, JPEG at quality 80–95), linearised
    through that curve as a perfect fit would. ``focus``: the loss weight added on pixels that
    move where the reference clips. ``measured_noise``: each scene's own noise, fitted from its
    aligned frames (``merge.snr.estimate_noise``), and its bit depth, instead of ``shot``,
    ``read`` and ``bits`` (fine-tuning on a user's camera). ``exposure_steps``: each crop's two
    exposure ratios (short to reference, reference to long) drawn log-uniformly in this range,
    instead of the scene's own times (real brackets step from 2× to 60×, the training scenes 4×).
    ``highlights``: the probability that what the reference clips is raised, smoothly from its
    clipping level, until the short frame's brightest channel reaches ``highlight_peak`` (a window
    or a sky is far brighter than the rest, and often nearly clips the short frame too).
    """

    clip_share: tuple[float, float] = (0.1, 0.4)
    elastic: float = 0.5
    elastic_px: tuple[float, float] = (0.0, 8.0)
    occluder: float = 0.8
    over_clipped: float = 0.5
    occluder_size: tuple[float, float] = (0.2, 0.5)
    occluder_shift_px: float = 24.0
    occluder_peak: tuple[float, float] = (0.05, 0.9)
    min_agreement: float = 0.9
    tries: int = 8
    shot: float = 2e-4
    read: float = 1e-3
    bits: int = 16
    camera: float = 0.0
    focus: float = 4.0
    measured_noise: bool = False
    exposure_steps: tuple[float, float] | None = None
    highlights: float = 0.0
    highlight_peak: tuple[float, float] = (0.7, 1.1)


@dataclass
class PseudoPair:
    """One rendered crop: ``frames`` (3, c, c, 3) LDR in exposure order (reference in the
    middle), ``times`` (3,), ``label`` (c, c, 3) HDR, ``focus`` (c, c, 1) the loss weight
    (1, or 1 + focus where something moves over a clipped reference pixel)."""

    frames: np.ndarray
    times: np.ndarray
    label: np.ndarray
    focus: np.ndarray
    response: CameraResponse  # the curve the frames went through


def random_polygon(size: int, rng: np.random.Generator) -> np.ndarray:
    """A soft-edged random polygon filling about a (size × size) box: float32 (size, size) in [0, 1].
    Its shapes are not the synthetic benchmark's ellipses."""
    corners = int(rng.integers(3, 8))
    angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
    radii = rng.uniform(0.5, 1.0, corners) * size / 2
    points = np.stack([size / 2 + radii * np.cos(angles), size / 2 + radii * np.sin(angles)], axis=1)
    mask = np.zeros((size, size), np.float32)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1.0)
    return cv2.GaussianBlur(mask, (0, 0), max(0.8, size / 40))


def elastic_field(height: int, width: int, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random displacement field, float32 (height, width, 2) px, at most ``amplitude``:
    a 4×4 grid of random displacements upsampled, plus a global shift of the same size."""
    grid = rng.uniform(-1, 1, (4, 4, 2)).astype(np.float32)
    field = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    field += rng.uniform(-1, 1, 2).astype(np.float32)
    scale = amplitude / max(float(np.abs(field).max()), 1e-6)
    return field * np.float32(scale)


def _source_window(scene: TrainScene, size: int, config: PseudoPairConfig,
                   rng: np.random.Generator) -> tuple[slice, slice]:
    """The window (``size`` px a side) whose static gate agrees most, of ``config.tries`` draws
    (the first that reaches ``min_agreement``)."""
    h, w = scene.y_color.shape[:2]
    best, best_score = None, -1.0
    for _ in range(config.tries):
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        window = (slice(y, y + size), slice(x, x + size))
        score = float(np.mean(scene.gate[window])) if scene.gate is not None else 1.0
        if score > best_score:
            best, best_score = window, score
        if score >= config.min_agreement:
            break
    return best


def scene_noise(scene: TrainScene, response: CameraResponse) -> NoiseModel:
    """A scene's own noise: fitted from its aligned frames, with their bit depth."""
    aligned = [np.asarray(frame, np.float32) for frame in scene.aligned]
    bits = code_bits(aligned)
    return estimate_noise(aligned, np.asarray(scene.times, np.float64) / float(scene.times[0]), response, bits=bits)


def render_pseudo_pair(scene: TrainScene, crop: int, response: CameraResponse, config: PseudoPairConfig,
                       rng: np.random.Generator, noise: NoiseModel | None = None) -> PseudoPair:
    """One pseudo-pair of ``crop`` px from ``scene`` (its Y_color, gate and exposure times only);
    ``noise``: the scene's own (``scene_noise``) in place of ``config``'s shot, read and bits."""
    margin = int(np.ceil(config.elastic_px[1] + config.occluder_shift_px)) + 2
    h, w = scene.y_color.shape[:2]
    side = min(crop + 2 * margin, h, w)
    margin = (side - crop) // 2
    window = _source_window(scene, side, config, rng)
    texture = np.maximum(np.asarray(scene.y_color[window], dtype=np.float32), 0.0)
    times = np.asarray(scene.times, dtype=np.float32)
    if config.exposure_steps is not None:
        low, high = np.log(config.exposure_steps)
        steps = np.exp(rng.uniform(low, high, 2))
        times = np.float32([1.0, steps[0], steps[0] * steps[1]])
    reference = 1
    inner = (slice(margin, margin + crop), slice(margin, margin + crop))

    # the scale that clips the chosen share of the reference's pixels
    brightest = texture[inner].max(axis=-1)
    share = rng.uniform(*config.clip_share)
    level = float(np.quantile(brightest, 1.0 - share))
    scale = np.float32(1.0 / max(level * times[reference], 1e-6))
    if config.highlights and rng.random() < config.highlights:
        texture = _raise_highlights(texture, inner, scale, times, reference, rng.uniform(*config.highlight_peak))

    # the occluder: a polygon cut from elsewhere in the scene, brightened or darkened
    occluder = None
    if rng.random() < config.occluder:
        size = int(round(crop * rng.uniform(*config.occluder_size)))
        mask = random_polygon(size, rng)
        oy, ox = (int(rng.integers(0, max(1, d - size))) for d in (h, w))
        patch = np.asarray(scene.y_color[oy:oy + size, ox:ox + size], dtype=np.float32)
        if patch.shape[:2] == (size, size):
            # as bright as a scene object may be: its highlights measured by the short frame, often clipped
            # in the reference (and so invisible in it only where it does not move)
            top = float(np.quantile(patch.max(axis=-1), 0.99))
            patch = patch * np.float32(rng.uniform(*config.occluder_peak) / max(top * scale * times[0], 1e-6))
            clipped = np.argwhere(brightest * scale * times[reference] >= 1.0)
            if clipped.size and rng.random() < config.over_clipped:
                cy, cx = clipped[int(rng.integers(len(clipped)))] + margin
            else:
                cy, cx = rng.integers(margin, margin + crop, 2)
            positions = [np.array([cy, cx], float) + rng.uniform(-1, 1, 2) * config.occluder_shift_px
                         for _ in range(3)]
            positions[reference] = np.array([cy, cx], float)
            occluder = (patch, mask, positions)

    amplitude = rng.uniform(*config.elastic_px) if rng.random() < config.elastic else 0.0
    radiance, moved = [], np.zeros((side, side), bool)
    for k in range(3):
        frame = texture
        if k != reference and amplitude > 0:
            field = elastic_field(side, side, amplitude, rng)
            xs, ys = np.meshgrid(np.arange(side, dtype=np.float32), np.arange(side, dtype=np.float32))
            frame = cv2.remap(texture, xs + field[..., 0], ys + field[..., 1], cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)
            moved |= np.abs(field).max(axis=-1) > 0.5
        if occluder is not None:
            frame, where = _paste(frame, *occluder[:2], occluder[2][k])
            moved |= where > 0.02
        radiance.append(frame)
    if occluder is not None:  # where the occluder sits in one frame but not in the reference, things moved
        _, at_reference = _paste(texture, *occluder[:2], occluder[2][reference])
        for k in (0, 2):
            _, at_k = _paste(texture, *occluder[:2], occluder[2][k])
            moved |= np.abs(at_k - at_reference) > 0.02

    frames = []
    camera = rng.random() < config.camera
    shot, read, bits = (noise.shot, noise.read, noise.bits) if noise is not None else (config.shot, config.read,
                                                                                      config.bits)
    quality = 0
    if camera:
        response, bits = random_camera_response(rng), 8
        quality = int(rng.integers(*RealisticCamera().jpeg_quality, endpoint=True))
    top = 2 ** bits - 1
    for k in range(3):
        exposure = radiance[k] * scale * times[k]
        draw = rng.standard_normal(exposure.shape).astype(np.float32)
        exposure = exposure + draw * np.sqrt(shot * np.clip(exposure, 0, 1) + read ** 2).astype(np.float32)
        ldr = (np.round(response.from_linear(np.clip(exposure, 0.0, 1.0)) * top) / top).astype(np.float32)
        if quality:
            ldr = jpeg_round_trip(ldr, quality)
        frames.append(ldr[inner])
    label = np.clip(radiance[reference] * scale, 0.0, 1.0)[inner]
    reference_clips = frames[reference].max(axis=-1) >= 0.99
    focus = 1.0 + config.focus * (moved[inner] & reference_clips).astype(np.float32)
    return PseudoPair(np.stack(frames), times, label.astype(np.float32), focus[..., None].astype(np.float32),
                      response)


def _raise_highlights(texture: np.ndarray, inner: tuple[slice, slice], scale: float, times: np.ndarray,
                      reference: int, target: float) -> np.ndarray:
    """``texture`` with what the reference clips brightened, by a gain rising from 1 at the
    reference's clipping level to the one that brings the short frame's brightest channel (in
    ``inner``) to ``target``; hues kept. Unchanged when the short frame is that bright already."""
    peak = float(texture[inner].max()) * scale * times[0]
    if peak >= target or peak <= 0:
        return texture
    over = np.clip(texture.max(axis=-1, keepdims=True) * scale * times[reference] - 1.0, 0.0, None)
    top = float(over[inner].max())
    if top <= 0:
        return texture
    ramp = np.clip(over / top, 0.0, 1.0)
    return (texture * (1.0 + (target / peak - 1.0) * ramp)).astype(np.float32)


def _paste(frame: np.ndarray, patch: np.ndarray, mask: np.ndarray,
           centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``frame`` with ``patch`` blended in through ``mask``, centred at ``centre`` (y, x); and the
    pasted mask at frame size."""
    side = frame.shape[0]
    size = patch.shape[0]
    shift = np.float32([[1, 0, centre[1] - size / 2], [0, 1, centre[0] - size / 2]])
    placed_mask = cv2.warpAffine(mask, shift, (side, side), flags=cv2.INTER_LINEAR, borderValue=0.0)
    placed = cv2.warpAffine(patch, shift, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    m = placed_mask[..., None]
    return frame * (1 - m) + placed * m, placed_mask


def sample_pseudo_batch(scenes: list[TrainScene], batch: int, crop: int, rng: np.random.Generator,
                        response: CameraResponse, color: ColorConfig, guided: bool,
                        config: PseudoPairConfig = PseudoPairConfig(),
                        noises: list[NoiseModel] | None = None) -> dict[str, torch.Tensor]:
    """A batch of pseudo-pairs as the networks take them (``trainset.sample_batch``'s layout):
    ``frames``, ``aligned`` (B, 3, 6, c, c) [H_k, I_k] (aligned by ``color.align``, the network's
    fixed layer), ``guide`` (B, 4, c, c) when ``guided`` (Y_color and the static gate made from
    these frames, as at merge time), ``label`` (B, 3, c, c) and ``focus`` (B, 1, c, c). ``noises``:
    each scene's own noise (``scene_noise``), with ``config.measured_noise``."""
    if config.measured_noise and (noises is None or len(noises) != len(scenes)):
        raise ValueError("measured_noise needs each scene's noise (scene_noise)")
    parts: dict[str, list[np.ndarray]] = {"frames": [], "aligned": [], "label": [], "focus": [], "guide": []}
    for _ in range(batch):
        index = int(rng.integers(len(scenes)))
        pair = render_pseudo_pair(scenes[index], crop, response, config, rng,
                                  noises[index] if config.measured_noise else None)
        ldr = list(pair.frames)
        own = replace(color, response=pair.response)
        aligned, covered = align_bracket_with_coverage(ldr, pair.times, 1, pair.response, own.align)
        if guided:
            y_color, gate, _ = color_gate_and_stats(aligned, pair.times / pair.times[0], 1, own, True, covered)
            parts["guide"].append(np.concatenate([y_color, gate[..., None]], axis=-1))
        t = (pair.times / pair.times[0])[:, None, None, None]
        parts["frames"].append(np.concatenate([pair.response.to_linear(pair.frames) / t, pair.frames], axis=-1))
        parts["aligned"].append(np.concatenate([pair.response.to_linear(np.stack(aligned)) / t, np.stack(aligned)],
                                               axis=-1))
        parts["label"].append(pair.label)
        parts["focus"].append(pair.focus)

    def to_tensor(stack: list[np.ndarray]) -> torch.Tensor:  # (..., H, W, C) → (..., C, H, W)
        return torch.from_numpy(np.ascontiguousarray(np.stack(stack))).movedim(-1, -3).float()

    out = {  # [H_k, I_k] on the channel axis, each linearised through its own curve
        "frames": to_tensor(parts["frames"]),
        "aligned": to_tensor(parts["aligned"]),
        "label": to_tensor(parts["label"]),
        "focus": to_tensor(parts["focus"]),
    }
    if guided:
        out["guide"] = to_tensor(parts["guide"])
    return out
