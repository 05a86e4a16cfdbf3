"""Synthesising labelled dynamic brackets from real HDR radiance maps.

A scene is a radiance canvas (float32 (H, W, 3), linear, in short-exposure units:
the short frame saturates at 1) plus moving objects composited in linear radiance
with soft masks, seen through a small per-frame camera motion. Frames are rendered
through a camera response with Poisson–Gaussian noise, clipping and quantisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from selfhdr_cli.errors import UsageError
from selfhdr_cli.io.hdrfile import read_hdr_image
from selfhdr_cli.radiometry.luma import rec709_luma
from selfhdr_cli.radiometry.response import DEFAULT_RESPONSE, CameraResponse


@dataclass
class MovingObject:
    """A radiance patch (h, w, 3) with a soft alpha (h, w) in [0, 1], and its top-left
    corner (x, y) in output pixels for each frame."""

    radiance: np.ndarray
    alpha: np.ndarray
    positions: list[tuple[float, float]]


@dataclass(frozen=True)
class SensorConfig:
    """Camera model: response, noise in the linear domain, bit depth.

    Noise variance at linear exposure x is ``shot * x + read**2`` (Poisson–Gaussian).
    """

    response: CameraResponse = DEFAULT_RESPONSE  # the benchmark camera's; synth --crf picks another
    shot: float = 2e-4
    read: float = 1e-3
    bits: int = 16
    jpeg_quality: int = 0  # 1–100: each frame goes through JPEG at this quality (8-bit only); 0: none


def soft_ellipse(height: int, width: int, softness: float = 0.15) -> np.ndarray:
    """An ellipse filling the box with a smooth edge, float32 (h, w) in [0, 1]."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r = np.sqrt(((xx + 0.5) / width * 2 - 1) ** 2 + ((yy + 0.5) / height * 2 - 1) ** 2)
    return np.clip((1.0 - r) / softness, 0.0, 1.0).astype(np.float32)


def _paste(canvas: np.ndarray, weight: np.ndarray, obj: MovingObject, frame: int) -> None:
    h, w = canvas.shape[:2]
    x, y = obj.positions[frame]
    shift = np.array([[1, 0, x], [0, 1, y]], dtype=np.float32)
    rad = cv2.warpAffine(obj.radiance, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpAffine(obj.alpha, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = alpha[..., None]
    canvas *= 1.0 - alpha
    canvas += alpha * rad
    weight[...] = np.maximum(weight, alpha[..., 0])


def camera_view(canvas: np.ndarray, affine: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
    """The centre ``size`` (H, W) of ``canvas`` seen through a 2×3 affine camera motion."""
    H, W = canvas.shape[:2]
    h, w = size
    y0, x0 = (H - h) // 2, (W - w) // 2
    if affine is None:
        return canvas[y0:y0 + h, x0:x0 + w].copy()
    # move the camera about the canvas centre, then crop the centre
    m = np.asarray(affine, dtype=np.float64).copy()
    m = np.vstack([m, [0, 0, 1]])
    centre = np.array([[1, 0, W / 2], [0, 1, H / 2], [0, 0, 1]])
    full = centre @ m @ np.linalg.inv(centre)
    crop = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ full
    return cv2.warpAffine(canvas, crop[:2].astype(np.float32), (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def smooth_displacement(size: tuple[int, int], amplitude_px: float, rng: np.random.Generator,
                        cell_px: int = 64) -> np.ndarray:
    """A smooth random displacement field (H, W, 2) of at most ``amplitude_px``: mild
    non-rigid motion such as leaves or water."""
    h, w = size
    coarse = rng.uniform(-1, 1, size=(h // cell_px + 2, w // cell_px + 2, 2)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) * np.float32(amplitude_px)


def render_radiance(canvas: np.ndarray, size: tuple[int, int], objects: list[MovingObject], frame: int,
                    affine: np.ndarray | None = None,
                    displacement: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scene radiance of one frame and where its objects are (alpha, (H, W))."""
    view = camera_view(canvas, affine, size).astype(np.float32)
    if displacement is not None:
        gy, gx = np.mgrid[0:size[0], 0:size[1]].astype(np.float32)
        view = cv2.remap(view, gx + displacement[..., 0], gy + displacement[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)
    where = np.zeros(size, dtype=np.float32)
    for obj in objects:
        _paste(view, where, obj, frame)
    return view, where


def expose(radiance: np.ndarray, relative_time: float, sensor: SensorConfig, rng: np.random.Generator) -> np.ndarray:
    """Render an LDR frame: noise on linear exposure, clip, response, quantise; float32 in [0, 1]."""
    linear = radiance * np.float32(relative_time)
    if sensor.shot > 0 or sensor.read > 0:
        sigma = np.sqrt(sensor.shot * np.clip(linear, 0, 1) + sensor.read ** 2).astype(np.float32)
        linear = linear + sigma * rng.standard_normal(linear.shape, dtype=np.float32)
    ldr = sensor.response.from_linear(np.clip(linear, 0.0, 1.0))
    levels = float(2 ** sensor.bits - 1)
    quantised = (np.round(ldr * levels) / levels).astype(np.float32)
    return jpeg_round_trip(quantised, sensor.jpeg_quality) if sensor.jpeg_quality else quantised


def jpeg_round_trip(ldr: np.ndarray, quality: int) -> np.ndarray:
    """An 8-bit frame (float32 (H, W, 3) RGB in [0, 1]) as it reads back from a JPEG of ``quality``."""
    u8 = np.clip(np.round(ldr * 255), 0, 255).astype(np.uint8)
    ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(u8[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise UsageError(f"JPEG encoding at quality {quality} failed")
    return (cv2.imdecode(buffer, cv2.IMREAD_COLOR)[:, :, ::-1] / np.float32(255)).astype(np.float32)


@dataclass(frozen=True)
class RealisticCamera:
    """What a real camera adds to the ideal sensor (``synth --camera realistic``), drawn per scene.

    A tone curve per channel that is no gamma: x^(1/γ) through an S-curve y^p / (y^p + (1 − y)^p)
    (a toe and a shoulder), γ in ``gamma``, p in ``contrast``, each channel's γ and p off the
    scene's by up to ``channel_spread``; 8-bit JPEG at a quality in ``jpeg_quality``; handheld
    motion up to ``shift_px`` and ``degrees``, with a parallax-like smooth displacement of up to
    ``parallax_px``. Clipping stays per channel, as a sensor's.
    """

    gamma: tuple[float, float] = (1.8, 2.6)
    contrast: tuple[float, float] = (1.0, 1.5)
    channel_spread: float = 0.06
    jpeg_quality: tuple[int, int] = (80, 95)
    shift_px: float = 50.0
    degrees: float = 3.0
    parallax_px: float = 3.0


def random_camera_response(rng: np.random.Generator, camera: RealisticCamera = RealisticCamera()) -> CameraResponse:
    """A per-channel camera response drawn as ``RealisticCamera`` describes: a 256-level table."""
    linear = np.linspace(0.0, 1.0, 8193)
    levels = np.linspace(0.0, 1.0, 256)
    gamma, contrast = rng.uniform(*camera.gamma), rng.uniform(*camera.contrast)
    curves = []
    for _ in range(3):
        g = gamma * rng.uniform(1 - camera.channel_spread, 1 + camera.channel_spread)
        p = contrast * rng.uniform(1 - camera.channel_spread, 1 + camera.channel_spread)
        y = linear ** (1.0 / g)
        ldr = y ** p / (y ** p + (1.0 - y) ** p)
        curves.append(np.interp(levels, ldr, linear))  # the inverse: linear value at each LDR level
    return CameraResponse("table", curves=tuple(tuple(float(v) for v in c) for c in curves), source="synthetic camera")


def render_bracket(canvas: np.ndarray, size: tuple[int, int], objects: list[MovingObject], ev_stops: list[float],
                   reference: int, sensor: SensorConfig, rng: np.random.Generator,
                   camera: list[np.ndarray | None] | None = None,
                   displacements: list[np.ndarray | None] | None = None,
                   ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Render LDR frames for ``ev_stops`` (ascending, shortest first at t = 1).

    Returns (frames, ground-truth radiance at the reference, moving-region mask):
    the ground truth is the reference frame's noise-free radiance in short-exposure units,
    clipped to [0, 1];
    the mask (H, W) bool marks every pixel an object covers in any frame.
    """
    times = np.power(2.0, np.asarray(ev_stops, dtype=np.float64) - ev_stops[0])
    camera = camera or [None] * len(ev_stops)
    displacements = displacements or [None] * len(ev_stops)
    frames, moving = [], np.zeros(size, dtype=bool)
    gt = None
    for k, t in enumerate(times):
        radiance, where = render_radiance(canvas, size, objects, k, camera[k], displacements[k])
        moving |= where > 0.02
        if k == reference:
            # No bracket measures past the short frame's saturation, and predictions live
            # in [0, 1] (SPEC §1): the label is clipped there, as in the Kalantari data.
            gt = np.clip(radiance, 0.0, 1.0)
        frames.append(expose(radiance, float(t), sensor, rng))
    return frames, gt, moving


@dataclass
class SyntheticScene:
    """A rendered bracket with its ground truth (short-exposure units, reference geometry).

    ``object_sources`` are indices into the ``sources`` list the objects were cut from.
    """

    frames: list[np.ndarray]
    ev_stops: list[float]
    reference: int
    ground_truth: np.ndarray
    moving: np.ndarray
    object_sources: list[int] = field(default_factory=list)
    sensor: SensorConfig | None = None  # the camera that rendered it (drawn per scene for a realistic camera)

    @property
    def saturated_share(self) -> float:
        """Share of reference pixels with a clipped channel."""
        return float(np.mean(self.frames[self.reference].max(axis=2) >= 0.999))

    @property
    def dark_share(self) -> float:
        """Share of reference pixels darker than 0.1 in every channel (where the long frame matters)."""
        return float(np.mean(self.frames[self.reference].max(axis=2) < 0.1))


@dataclass(frozen=True)
class SceneConfig:
    """How a synthetic scene is made: size, exposures, motion, camera model."""

    size: tuple[int, int] = (384, 512)
    ev_step: float = 2.0
    sensor: SensorConfig = field(default_factory=SensorConfig)
    static: bool = False
    nonrigid_px: float = 0.0
    n_objects: tuple[int, int] = (1, 3)
    motion_px: tuple[float, float] = (10.0, 60.0)
    camera_shift_px: float = 3.0
    camera_degrees: float = 1.0
    saturated_ref: tuple[float, float] = (0.05, 0.2)
    min_dark_ref: float = 0.03
    camera: RealisticCamera | None = None  # a realistic camera drawn per scene (8-bit JPEG); None: the sensor as is

    def realistic(self, rng: np.random.Generator) -> "SceneConfig":
        """This config with ``camera`` drawn for one scene: its response, JPEG quality and handheld motion."""
        if self.camera is None:
            return self
        cam = self.camera
        sensor = replace(self.sensor, response=random_camera_response(rng, cam), bits=8,
                         jpeg_quality=int(rng.integers(cam.jpeg_quality[0], cam.jpeg_quality[1] + 1)))
        if self.static:
            return replace(self, sensor=sensor)
        return replace(self, sensor=sensor, camera_shift_px=cam.shift_px, camera_degrees=cam.degrees,
                       nonrigid_px=max(self.nonrigid_px, cam.parallax_px))


def _random_crop(image: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    H, W = image.shape[:2]
    if H < height or W < width:
        scale = max(height / H, width / W) * 1.01
        image = cv2.resize(image, (int(np.ceil(W * scale)), int(np.ceil(H * scale))), interpolation=cv2.INTER_LINEAR)
        H, W = image.shape[:2]
    y = int(rng.integers(0, H - height + 1))
    x = int(rng.integers(0, W - width + 1))
    return np.ascontiguousarray(image[y:y + height, x:x + width]).astype(np.float32)


def _random_affine(rng: np.random.Generator, max_shift: float, max_degrees: float) -> np.ndarray:
    a = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
    tx, ty = rng.uniform(-max_shift, max_shift, size=2)
    return np.array([[np.cos(a), -np.sin(a), tx], [np.sin(a), np.cos(a), ty]], dtype=np.float64)


def _exposed_canvas(background: np.ndarray, shape: tuple[int, int], config: SceneConfig,
                    rng: np.random.Generator) -> np.ndarray:
    """A crop scaled so the reference clips a drawn share and the short frame ≤ 0.2 %.

    Up to six crops are tried; the first whose reference has enough dark pixels
    (where the long frame matters) wins, else the darkest.
    """
    t_ref = 2.0 ** config.ev_step
    saturated_share = rng.uniform(*config.saturated_ref)
    best, best_dark = None, -1.0
    for _ in range(6):
        canvas = np.maximum(_random_crop(background, shape[0], shape[1], rng), 0)
        if rng.random() < 0.5:
            canvas = canvas[:, ::-1].copy()
        brightest = canvas.max(axis=2)
        scale_ref = 1.0 / (t_ref * max(float(np.percentile(brightest, 100 * (1 - saturated_share))), 1e-8))
        scale_short = 0.95 / max(float(np.percentile(brightest, 99.8)), 1e-8)
        canvas *= np.float32(min(scale_ref, scale_short))
        ref_linear = canvas * t_ref  # per channel: a calibrated response may differ by channel
        dark = float(np.mean(config.sensor.response.from_linear(ref_linear).max(axis=2) < 0.1))
        if dark > best_dark:
            best, best_dark = canvas, dark
        if dark >= config.min_dark_ref:
            break
    return best


def make_scene(background: np.ndarray, sources: list[np.ndarray], rng: np.random.Generator,
               config: SceneConfig = SceneConfig()) -> SyntheticScene:
    """A three-exposure scene (EV 0, ev_step, 2·ev_step) from real radiance maps.

    The reference is the middle frame. Unless ``config.static``, 1–3 objects cut from
    ``sources`` with soft masks are composited in linear radiance and move 10–60 px
    between frames, and the camera moves a few pixels and about a degree.
    """
    config = config.realistic(rng)
    height, width = config.size
    margin = int(np.ceil(config.camera_shift_px + np.deg2rad(config.camera_degrees) * max(config.size) / 2)) + 4
    canvas = _exposed_canvas(background, (height + 2 * margin, width + 2 * margin), config, rng)
    ev_stops = [0.0, config.ev_step, 2 * config.ev_step]
    objects: list[MovingObject] = []
    picked: list[int] = []
    camera: list[np.ndarray | None] = [None, None, None]
    displacements: list[np.ndarray | None] = [None, None, None]
    if not config.static:
        for _ in range(int(rng.integers(config.n_objects[0], config.n_objects[1] + 1))):
            index = int(rng.integers(0, len(sources))) if sources else -1
            src = sources[index] if sources else background
            picked.append(index)
            oh = int(rng.integers(height // 6, height // 3 + 1))
            ow = int(rng.integers(width // 8, width // 3 + 1))
            patch = np.maximum(_random_crop(src, oh, ow, rng), 0)
            # brightness relative to the scene: some bright enough to clip the reference, some dark
            target = float(np.exp(rng.uniform(np.log(0.01), np.log(0.8))))
            patch *= np.float32(target / max(float(np.median(rec709_luma(patch))), 1e-8))
            alpha = soft_ellipse(oh, ow, softness=float(rng.uniform(0.05, 0.3)))
            speed = rng.uniform(*config.motion_px)
            angle = rng.uniform(0, 2 * np.pi)
            dx, dy = speed * np.cos(angle), speed * np.sin(angle)
            cx = rng.uniform(abs(dx), max(abs(dx) + 1, width - ow - abs(dx)))
            cy = rng.uniform(abs(dy), max(abs(dy) + 1, height - oh - abs(dy)))
            objects.append(MovingObject(patch, alpha, [(cx - dx, cy - dy), (cx, cy), (cx + dx, cy + dy)]))
        camera = [_random_affine(rng, config.camera_shift_px, config.camera_degrees), None,
                  _random_affine(rng, config.camera_shift_px, config.camera_degrees)]
        if config.nonrigid_px > 0:
            displacements = [smooth_displacement(config.size, config.nonrigid_px, rng), None,
                             smooth_displacement(config.size, config.nonrigid_px, rng)]
    frames, gt, moving = render_bracket(canvas, config.size, objects, ev_stops, 1, config.sensor, rng, camera,
                                        displacements)
    return SyntheticScene(frames=frames, ev_stops=ev_stops, reference=1, ground_truth=gt, moving=moving,
                          object_sources=picked, sensor=config.sensor)


# Three disjoint splits of the radiance maps (the data-split decision). Training data comes only from the
# train split; every decision (flow, loss weights, schedule, checkpoint) is made on the
# validation split; the benchmark split only produces the final table.
BENCHMARK_MAPS = (
    "adams_place_bridge_1k", "dancing_hall_1k", "kiara_1_dawn_1k", "leadenhall_market_1k",
    "modern_buildings_2_1k", "rainforest_trail_1k", "st_fagans_interior_1k", "openexr_MtTamWest",
)
VALIDATION_MAPS = (
    "aerodynamics_workshop_1k", "narrow_moonlit_road_1k", "noon_grass_1k", "potsdamer_platz_1k",
    "sepulchral_chapel_rotunda_1k", "openexr_StillLife",
)
SPLITS = ("train", "val", "benchmark", "all")
SPLIT_ALIASES = {"test": "benchmark"}  # the name this split had before validation was carved out
RADIANCE_SUFFIXES = (".hdr", ".exr")


def map_split(stem: str) -> str:
    """The split a radiance map belongs to, by file stem: ``benchmark``, ``val`` or ``train``."""
    if stem in BENCHMARK_MAPS:
        return "benchmark"
    if stem in VALIDATION_MAPS:
        return "val"
    return "train"


def radiance_maps(folder: str | Path, split: str = "all") -> list[Path]:
    """Radiance map files (.hdr/.exr) in ``folder`` that belong to ``split``.

    ``train`` is every map outside ``VALIDATION_MAPS`` and ``BENCHMARK_MAPS``; ``val`` and
    ``benchmark`` are those lists; ``all`` is every map. Sorted by name.
    """
    split = SPLIT_ALIASES.get(split, split)
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; use {', '.join(SPLITS)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError("no such folder", folder)
    maps = sorted(p for p in folder.iterdir() if p.suffix.lower() in RADIANCE_SUFFIXES and p.is_file())
    if split != "all":
        maps = [p for p in maps if map_split(p.stem) == split]
    if not maps:
        raise UsageError(f"no .hdr/.exr radiance maps for split {split!r}", folder)
    return maps


def load_radiance_maps(folder: str | Path, split: str = "all") -> list[np.ndarray]:
    """The maps of ``radiance_maps`` decoded: float32 (H, W, 3) linear RGB, sorted by name."""
    return [read_hdr_image(p) for p in radiance_maps(folder, split)]


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of scene ``index``: independent of how many scenes are made."""
    return np.random.default_rng([int(seed), int(index)])


def synthesise(maps: list[np.ndarray], index: int, seed: int, config: SceneConfig) -> tuple[SyntheticScene, int]:
    """Scene ``index`` of a seeded set: backgrounds cycle through a seeded permutation of
    the maps; objects come from the other maps. Returns (scene, background index)."""
    order = np.random.default_rng(int(seed)).permutation(len(maps))
    background = int(order[index % len(maps)])
    others = [i for i in range(len(maps)) if i != background] or [background]
    rng = scene_rng(seed, index)
    scene = make_scene(maps[background], [maps[i] for i in others], rng, config)
    scene.object_sources = [others[i] for i in scene.object_sources if i >= 0]
    return scene, background
