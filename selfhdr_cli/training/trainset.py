"""Training scenes in memory and random crops (SPEC §3–4 inputs).

A training scene is a Kalantari-layout bracket plus its ``build-color`` cache: the
unaligned LDR frames, the aligned frames, Y_color and (for stage 2) Y_stru. Ground
truth is never opened here. Arrays are float32 RGB; frames are (3, H, W, 3) in
exposure order (short, reference, long).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from selfhdr_cli.errors import UsageError
from selfhdr_cli.io.atomic import atomic_path, write_bytes_atomic
from selfhdr_cli.io.hdrfile import read_hdr_image
from selfhdr_cli.merge.bracket import BracketSettings, load_bracket, three_frames
from selfhdr_cli.radiometry.response import CameraResponse
from selfhdr_cli.training.caches import STRU_FILE, ColorCache


@dataclass
class TrainScene:
    name: str
    frames: np.ndarray
    aligned: np.ndarray
    times: np.ndarray
    y_color: np.ndarray
    gate: np.ndarray | None = None  # (H, W, 1): merge.snr.static_gate, for guided networks
    y_stru: np.ndarray | None = None
    ground_truth: np.ndarray | None = None  # only for the supervised upper bound


ARRAYS_FOLDER = "arrays"  # in each scene's cache: memory-mapped copies of the training arrays


def load_train_scene(frames: list[Path], cache: ColorCache, settings: BracketSettings, need_stru: bool,
                     ground_truth: Path | None = None) -> TrainScene:
    """Load one scene: frames (read with ``settings``, exposures from the scene's metadata) and
    its cache.

    The arrays are memory-mapped ``.npy`` copies kept in the cache (``ARRAYS_FOLDER``), made on
    first use and remade when a source changes: training takes crops, so only the pages under
    them are read, and twenty 12 MP scenes train in the memory of a few crops rather than 24 GB.
    ``ground_truth`` is read only when given: the supervised baseline, never SelfHDR.
    """
    meta = json.loads(cache.meta.read_text())
    pick = three_frames(len(meta["frames"]), int(meta["reference"]))
    folder = cache.folder / ARRAYS_FOLDER

    def unaligned() -> np.ndarray:
        bracket = load_bracket(frames, settings)
        return np.stack([bracket.frames[i] for i in pick])

    stru = None
    if need_stru:
        path = cache.folder / STRU_FILE
        if not path.is_file():
            raise UsageError("no Y_stru for this scene: run train-structure first", cache.folder)
        stru = _mapped(folder, "y_stru", [path], lambda: read_hdr_image(path))
    return TrainScene(
        name=cache.folder.name,
        frames=_mapped(folder, "frames", [cache.meta, *frames], unaligned),
        aligned=_mapped(folder, "aligned", [cache.aligned(i) for i in pick],
                        lambda: np.stack([read_hdr_image(cache.aligned(i)) for i in pick])),
        times=np.asarray([meta["relative_times"][i] for i in pick], dtype=np.float32),
        y_color=_mapped(folder, "y_color", [cache.y_color], lambda: read_hdr_image(cache.y_color)),
        gate=_mapped(folder, "gate", [cache.gate], cache.load_gate),
        y_stru=stru,
        ground_truth=read_hdr_image(ground_truth) if ground_truth is not None else None,
    )


def _mapped(folder: Path, name: str, sources: list[Path], make: Callable[[], np.ndarray]) -> np.ndarray:
    """``make()`` saved once as ``folder/name.npy`` and memory-mapped read-only; remade when a
    source file's size or modification time changed since."""
    key = [[Path(p).name, Path(p).stat().st_size, Path(p).stat().st_mtime_ns] for p in sources]
    array_path, key_path = folder / f"{name}.npy", folder / f"{name}.key.json"
    try:
        if json.loads(key_path.read_text()) == key:
            return np.load(array_path, mmap_mode="r")
    except (OSError, ValueError):
        pass
    folder.mkdir(exist_ok=True)
    array = np.ascontiguousarray(make(), dtype=np.float32)
    with atomic_path(array_path) as tmp:
        with open(tmp, "wb") as fh:  # np.save on a path would append .npy to the temporary name
            np.save(fh, array)
    del array
    write_bytes_atomic(key_path, json.dumps(key).encode())
    return np.load(array_path, mmap_mode="r")


REFERENCE_NOISE_SIGMA = 0.5 / 255.0  # SPEC §4


def noisy_reference(ldr_ref: torch.Tensor, generator: torch.Generator | None = None,
                    sigma: float = REFERENCE_NOISE_SIGMA) -> torch.Tensor:
    """SPEC §4's augmentation of the reference: I_r' = clip(I_r + n, 0, 1), n ~ N(0, σ²).

    ``ldr_ref`` is LDR in [0, 1], any shape; the caller recomputes H_r' = g(I_r') / t_r.
    """
    noise = torch.randn(ldr_ref.shape, generator=generator, dtype=ldr_ref.dtype) * sigma
    return (ldr_ref + noise).clamp(0.0, 1.0)


def _augment(arrays: list[np.ndarray], flip_v: bool, flip_h: bool, transpose: bool) -> list[np.ndarray]:
    out = []
    for a in arrays:
        # spatial axes are the two before the channel axis
        h_axis, w_axis = a.ndim - 3, a.ndim - 2
        if flip_v:
            a = np.flip(a, h_axis)
        if flip_h:
            a = np.flip(a, w_axis)
        if transpose:
            a = np.swapaxes(a, h_axis, w_axis)
        out.append(a)
    return out


def sample_batch(scenes: list[TrainScene], batch: int, crop: int, rng: np.random.Generator,
                 response: CameraResponse, reference_noise: bool, generator: torch.Generator | None = None,
                 masked_frames: float = 0.0) -> dict[str, torch.Tensor]:
    """A random batch of ``crop``×``crop`` crops, flipped and transposed at random.

    Returns tensors (B, ...) : ``frames`` and ``aligned`` (B, 3, 6, c, c) as [H_k, I_k];
    ``ldr_ref``, ``h_ref``, ``y_color`` and (if present) ``y_stru`` (B, 3, c, c); ``guide``
    (B, 4, c, c): Y_color and the static gate, when the scenes have a gate. With
    ``reference_noise`` the reference gets SPEC §4's noise and H_r is recomputed. With
    ``masked_frames`` p > 0, each crop with probability p gets ``mask_frames``.
    """
    parts: dict[str, list[np.ndarray]] = {"frames": [], "aligned": [], "y_color": [], "y_stru": [], "times": [],
                                          "ground_truth": [], "gate": []}
    for _ in range(batch):
        s = scenes[int(rng.integers(len(scenes)))]
        h, w = s.y_color.shape[:2]
        c = min(crop, h, w)
        y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        win = (slice(y, y + c), slice(x, x + c))
        arrays = [s.frames[:, win[0], win[1]], s.aligned[:, win[0], win[1]], s.y_color[win]]
        optional = [name for name in ("y_stru", "ground_truth", "gate") if getattr(s, name) is not None]
        arrays += [getattr(s, name)[win] for name in optional]
        arrays = _augment(arrays, *(bool(b) for b in rng.integers(0, 2, size=3)))
        parts["frames"].append(arrays[0])
        parts["aligned"].append(arrays[1])
        parts["y_color"].append(arrays[2])
        for name, array in zip(optional, arrays[3:]):
            parts[name].append(array)
        parts["times"].append(s.times)

    def to_tensor(stack: list[np.ndarray]) -> torch.Tensor:  # (..., H, W, C) → (..., C, H, W)
        return torch.from_numpy(np.ascontiguousarray(np.stack(stack))).movedim(-1, -3).float()

    ldr = to_tensor(parts["frames"])                     # (B, 3, 3, c, c)
    ldr_aligned = to_tensor(parts["aligned"])
    times = torch.from_numpy(np.stack(parts["times"])).view(-1, 3, 1, 1, 1)
    if reference_noise:
        noisy = noisy_reference(ldr[:, 1], generator)
        ldr = ldr.clone()
        ldr[:, 1] = noisy
        ldr_aligned = ldr_aligned.clone()
        ldr_aligned[:, 1] = noisy  # the reference is its own alignment
    h = response.to_linear_tensor(ldr) / times
    h_aligned = response.to_linear_tensor(ldr_aligned) / times
    out = {
        "frames": torch.cat([h, ldr], dim=2),
        "aligned": torch.cat([h_aligned, ldr_aligned], dim=2),
        "ldr_ref": ldr[:, 1],
        "h_ref": h[:, 1],
        "y_color": to_tensor(parts["y_color"]),
    }
    for name in ("y_stru", "ground_truth"):
        if parts[name]:
            out[name] = to_tensor(parts[name])
    if parts["gate"]:
        out["guide"] = torch.cat([out["y_color"], to_tensor(parts["gate"])], dim=1)
        if masked_frames > 0:
            mask_frames(out, rng, masked_frames)
    return out


def mask_frames(batch: dict[str, torch.Tensor], rng: np.random.Generator, probability: float) -> None:
    """Teach a guided network what to do where frames disagree, from places where they agree.

    In a random soft ellipse inside the agreeing part of a crop (gate > 0.5), the non-reference
    frames are replaced by the same frames shifted 16+ px (a ghost: content that does not
    belong there), the gate is closed and the guide's Y_color becomes the reference alone,
    which is what the SNR merge leaves where it rejects every other frame. The losses still
    see the true Y_color of all the frames there, so the network learns to rebuild the
    agreeing merge from the reference and its surroundings: to denoise and to ignore ghosts.
    Modifies ``batch`` (from ``sample_batch``) in place.
    """
    b, _, _, size, _ = batch["frames"].shape
    gate = batch["guide"][:, 3:4]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for i in range(b):
        if rng.random() >= probability:
            continue
        cy, cx = rng.uniform(0, size, 2)
        ry, rx = rng.uniform(size / 8, size / 3, 2)
        r = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
        blob = torch.from_numpy(np.clip((1.2 - r) / 0.4, 0, 1))[None]  # soft edge
        m = blob * (gate[i] > 0.5).float()
        dy, dx = (int(v) * int(rng.choice([-1, 1])) for v in rng.integers(16, max(17, size // 2), 2))
        for name in ("frames", "aligned"):
            x = batch[name]
            for k in (0, 2):
                ghost = torch.roll(x[i, k], shifts=(dy, dx), dims=(-2, -1))
                x[i, k] = x[i, k] * (1 - m) + ghost * m
        guide = batch["guide"]
        guide[i, :3] = guide[i, :3] * (1 - m) + batch["h_ref"][i] * m
        guide[i, 3:4] = guide[i, 3:4] * (1 - m)
