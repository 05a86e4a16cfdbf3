"""Datasets in the Kalantari layout (SPEC §7): finding scenes, their frames, their labels.

A scene folder holds ≥ 2 LDR frames (TIFF/PNG/JPEG), optionally ``exposure.txt``
(one EV per line, file-name order), ``HDRImg.hdr`` (ground truth: never read by
training) and, for synthesised scenes, ``scene.json``. A dataset folder holds scene
folders.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tifffile

from selfhdr_cli.errors import UsageError
from selfhdr_cli.io.atomic import atomic_path, write_bytes_atomic
from selfhdr_cli.io.exposure import EXPOSURE_TXT
from selfhdr_cli.io.frames import frame_files, quantise
from selfhdr_cli.io.hdrfile import write_hdr_image

GROUND_TRUTH_FILE = "HDRImg.hdr"
GROUND_TRUTH_NAMES = ("hdrimg", "gt")  # frame-like files that are labels, never frames
SCENE_META = "scene.json"


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


def labelled_scenes(root: str | Path) -> list[Path]:
    """Scenes of ``root`` that carry ``HDRImg.hdr`` (the file is not opened here)."""
    scenes = [s for s in find_scenes(root) if (s / GROUND_TRUTH_FILE).is_file()]
    if not scenes:
        raise UsageError(f"no labelled scenes: expected <scene>/{GROUND_TRUTH_FILE}", root)
    return scenes


def write_scene(folder: Path, frames: list[np.ndarray], ev_stops: list[float], ground_truth: np.ndarray | None,
                meta: dict, bits: int = 16) -> None:
    """Write one Kalantari-layout scene: ``frame_K.tif`` (8/16-bit), ``exposure.txt`` (EV),
    ``HDRImg.hdr`` (ground truth) and ``scene.json`` (how it was made), the last one last."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / SCENE_META).exists():
        (folder / SCENE_META).unlink()
    for k, frame in enumerate(frames):
        with atomic_path(folder / f"frame_{k}.tif") as tmp:
            tifffile.imwrite(tmp, quantise(frame, bits), photometric="rgb", compression="zlib", predictor=True)
    write_bytes_atomic(folder / EXPOSURE_TXT, "".join(f"{e:g}\n" for e in ev_stops).encode())
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
