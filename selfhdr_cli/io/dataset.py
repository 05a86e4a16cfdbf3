"""Datasets in the Kalantari layout and the per-scene colour-component cache.

A scene folder holds ≥ 2 LDR frames (TIFF/PNG/JPEG), optionally ``exposure.txt``
(one EV per line, file-name order) and ``HDRImg.hdr`` (ground truth, never read
here). A dataset folder holds scene folders. ``build-color`` writes, per scene,
``y_color.exr`` (float32), ``aligned_K.exr`` (aligned LDR frames in exposure order,
float32 in [0, 1]) and ``meta.json``, written last as the completeness marker.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from selfhdr_cli.io.atomic import write_bytes_atomic
from selfhdr_cli.merge.bracket import Bracket, load_bracket
from selfhdr_cli.merge.colour import ColorConfig, build_color
from selfhdr_cli.errors import UsageError
from selfhdr_cli.io.frames import frame_files
from selfhdr_cli.io.hdrfile import read_hdr_image, write_hdr_image

GROUND_TRUTH_NAMES = ("hdrimg", "gt")
COLOR_FILE = "y_color.exr"
META_FILE = "meta.json"


def scene_frames(scene: Path) -> list[Path]:
    """The LDR frames of a scene folder, in file-name order (ground truth excluded)."""
    return [p for p in frame_files(scene) if p.stem.lower() not in GROUND_TRUTH_NAMES]


def is_scene(folder: Path) -> bool:
    """True when ``folder`` directly holds at least two LDR frames."""
    return Path(folder).is_dir() and len(scene_frames(folder)) >= 2


def find_scenes(root: str | Path) -> list[Path]:
    """Scene folders under ``root``: ``root`` itself if it is a scene, else its scene subfolders."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError("no such folder", root)
    if is_scene(root):
        return [root]
    scenes = sorted(p for p in root.iterdir() if not p.name.startswith(".") and is_scene(p))
    if not scenes:
        raise UsageError("no scenes found: expected subfolders with ≥ 2 TIFF/PNG/JPEG frames each", root)
    return scenes


def default_cache_root(dataset: Path) -> Path:
    """Where ``build-color`` writes by default: ``<dataset>.selfhdr`` beside the dataset."""
    dataset = Path(dataset).resolve()
    return dataset.parent / f"{dataset.name}.selfhdr"


@dataclass
class ColorCache:
    """Paths of one scene's cached colour component."""

    folder: Path

    @property
    def y_color(self) -> Path:
        return self.folder / COLOR_FILE

    @property
    def meta(self) -> Path:
        return self.folder / META_FILE

    def aligned(self, k: int) -> Path:
        return self.folder / f"aligned_{k}.exr"

    def is_complete(self) -> bool:
        if not self.meta.is_file() or not self.y_color.is_file():
            return False
        try:
            n = len(json.loads(self.meta.read_text())["frames"])
        except (ValueError, KeyError, TypeError):
            return False
        return all(self.aligned(k).is_file() for k in range(n))

    def load(self) -> tuple[np.ndarray, list[np.ndarray], dict]:
        """(Y_color, aligned frames, metadata)."""
        meta = json.loads(self.meta.read_text())
        aligned = [read_hdr_image(self.aligned(k)) for k in range(len(meta["frames"]))]
        return read_hdr_image(self.y_color), aligned, meta


def write_color_cache(cache: ColorCache, bracket: Bracket, y_color: np.ndarray, aligned: list[np.ndarray],
                      config: ColorConfig) -> None:
    """Write Y_color and the aligned frames (float32 EXR, lossless), then ``meta.json``."""
    cache.folder.mkdir(parents=True, exist_ok=True)
    if cache.meta.exists():
        cache.meta.unlink()  # an old marker must not vouch for half-rewritten files
    write_hdr_image(cache.y_color, y_color)
    for k, frame in enumerate(aligned):
        write_hdr_image(cache.aligned(k), frame)
    meta = {
        "frames": [str(p) for p in bracket.paths],
        "times": [float(t) for t in bracket.times],
        "relative_times": [float(t) for t in bracket.relative_times],
        "absolute_times": bool(bracket.absolute),
        "exposure_source": bracket.exposure_source,
        "reference": int(bracket.reference),
        "response": str(config.response),
        "align": asdict(config.align),
        "units": "short-exposure",
    }
    write_bytes_atomic(cache.meta, (json.dumps(meta, indent=2) + "\n").encode())


def build_color_scene(frames: list[Path], out_folder: Path, config: ColorConfig, force: bool = False,
                      exposures: str | None = None, ev: str | None = None,
                      reference: str | None = None) -> str:
    """Build one scene's colour component into ``out_folder``. Returns ``built`` or ``skipped``."""
    cache = ColorCache(Path(out_folder))
    if cache.is_complete() and not force:
        return "skipped"
    bracket = load_bracket(frames, exposures=exposures, ev=ev, reference=reference)
    result = build_color(bracket, config)
    write_color_cache(cache, bracket, result.y_color, result.aligned, config)
    return "built"


SCENE_META = "scene.json"
GROUND_TRUTH_FILE = "HDRImg.hdr"


def write_scene(folder: Path, frames: list[np.ndarray], ev_stops: list[float], ground_truth: np.ndarray | None,
                meta: dict, bits: int = 16) -> None:
    """Write one Kalantari-layout scene: ``frame_K.tif`` (8/16-bit), ``exposure.txt`` (EV),
    ``HDRImg.hdr`` (ground truth) and ``scene.json`` (how it was made), the last one last."""
    import tifffile

    from selfhdr_cli.io.atomic import atomic_path
    from selfhdr_cli.evaluation.synth import quantise

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / SCENE_META).exists():
        (folder / SCENE_META).unlink()
    for k, frame in enumerate(frames):
        with atomic_path(folder / f"frame_{k}.tif") as tmp:
            tifffile.imwrite(tmp, quantise(frame, bits), photometric="rgb", compression="zlib", predictor=True)
    write_bytes_atomic(folder / "exposure.txt", "".join(f"{e:g}\n" for e in ev_stops).encode())
    if ground_truth is not None:
        write_hdr_image(folder / GROUND_TRUTH_FILE, ground_truth)
    write_bytes_atomic(folder / SCENE_META, (json.dumps(meta, indent=2) + "\n").encode())


def scene_is_static(scene: Path) -> bool | None:
    """Whether a synthesised scene is motion-free (from ``scene.json``); None if unknown."""
    meta = Path(scene) / SCENE_META
    if not meta.is_file():
        return None
    try:
        return bool(json.loads(meta.read_text())["static"])
    except (ValueError, KeyError, TypeError):
        return None
