"""Small synthetic brackets made in code: a procedural radiance map, a moving object."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from selfhdr_cli.evaluation.synth import MovingObject, SensorConfig, render_bracket, soft_ellipse
from selfhdr_cli.io.frames import quantise
from selfhdr_cli.radiometry.response import CameraResponse

SHARED = Path(__file__).resolve().parents[2] / "shared"


def procedural_radiance(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A textured radiance map spanning ~10 stops left to right, float32 (H, W, 3)."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.exp2((xx / width) * 10 - 8)
    texture = 1 + 0.5 * np.sin(xx / 5.0) * np.sin(yy / 7.0) + 0.3 * np.sin((xx + yy) / 11.0)
    blobs = cv2.resize(rng.random((height // 8 + 1, width // 8 + 1)).astype(np.float32), (width, height),
                       interpolation=cv2.INTER_CUBIC)
    colour = np.stack([1.0 + 0.2 * np.sin(yy / 40), np.ones_like(yy), 0.8 + 0.2 * np.cos(xx / 30)], -1)
    return ((base * texture * (0.6 + 0.8 * blobs))[..., None] * colour).astype(np.float32)


def dynamic_bracket(height=192, width=256, shift=14.0, seed=0, static=False):
    """Frames (EV 0, 2, 4), ground truth (short-exposure units), moving-region mask.

    A 56×56 textured object moves ``shift`` px right (and a little down) per frame.
    """
    canvas = procedural_radiance(height + 16, width + 16, seed)
    obj_radiance = procedural_radiance(56, 56, seed + 1)[:, :, ::-1].copy() * 0.6 + 0.03
    x0, y0 = width * 0.35, height * 0.35
    positions = [(x0 - shift, y0 - shift / 4), (x0, y0), (x0 + shift, y0 + shift / 4)]
    objects = [] if static else [MovingObject(obj_radiance, soft_ellipse(56, 56), positions)]
    sensor = SensorConfig(response=CameraResponse("gamma"), bits=16)
    frames, gt, moving = render_bracket(canvas, (height, width), objects, [0.0, 2.0, 4.0], 1, sensor,
                                        np.random.default_rng(seed))
    return frames, gt, moving


def write_bracket(folder: Path, frames, ev=(0.0, 2.0, 4.0), bits=16, exposure_txt=True,
                  names=("a.tif", "b.tif", "c.tif")) -> list[Path]:
    """Write frames as TIFF/PNG/JPEG (by name) and optionally a Kalantari exposure.txt."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for frame, name in zip(frames, names):
        path = folder / name
        data = quantise(frame, 8 if name.lower().endswith((".jpg", ".jpeg")) else bits)
        if path.suffix.lower() in (".tif", ".tiff"):
            tifffile.imwrite(path, data, photometric="rgb")
        else:
            cv2.imwrite(str(path), np.ascontiguousarray(data[:, :, ::-1]))
        paths.append(path)
    if exposure_txt:
        (folder / "exposure.txt").write_text("".join(f"{e:g}\n" for e in ev))
    return paths


@pytest.fixture(scope="session")
def moving_scene():
    return dynamic_bracket()


@pytest.fixture
def bracket_files(tmp_path, moving_scene):
    frames, gt, moving = moving_scene
    return write_bracket(tmp_path / "scene", frames)




def gamma_response():
    from selfhdr_cli.radiometry.response import CameraResponse

    return CameraResponse("gamma", 2.2)


def color_config(merge: str = "snr", **align):
    """The colour settings the CLI's defaults give (gamma 2.2, the default flow), spelled out."""
    from selfhdr_cli.merge.align import AlignConfig
    from selfhdr_cli.merge.color import ColorConfig

    return ColorConfig(response=gamma_response(), align=AlignConfig(**align), merge=merge)


def bracket_settings(trust_exposures: bool = False, fit_response: bool = False):
    """Bracket settings: gamma 2.2 (``fit_response``: merge's default, ``--crf auto``), camera white
    balance, sRGB."""
    from selfhdr_cli.merge.bracket import bracket_settings as make

    return make(gamma_response(), "camera", "srgb", trust_exposures, fit_response)
