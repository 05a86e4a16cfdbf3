"""The per-scene caches of the training recipe: Y_color and the aligned frames (SPEC §2.5).

``build-color`` writes, per scene, ``y_color.exr`` (float32, short-exposure units),
``aligned_K.exr`` (the frames warped onto the reference, exposure order, float32 in
[0, 1]), ``gate.exr`` (the static gate, ``merge.snr.static_gate``, grey) and ``meta.json``, written last as the completeness marker. ``meta.json``
records the settings the cache was built with; a cache built with other settings is
rebuilt, never silently reused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from selfhdr_cli.io.atomic import write_bytes_atomic
from selfhdr_cli.io.hdrfile import read_hdr_image, write_hdr_image
from selfhdr_cli.io.raw import is_raw
from selfhdr_cli.merge.bracket import Bracket, BracketPlan, BracketSettings, decode_plan, plan_bracket
from selfhdr_cli.merge.color import ColorConfig, build_color
from selfhdr_cli.training.records import config_difference

COLOR_FILE = "y_color.exr"
GATE_FILE = "gate.exr"
META_FILE = "meta.json"
STRU_FILE = "y_stru.exr"


def default_cache_root(dataset: Path) -> Path:
    """Where ``build-color`` writes by default: ``<dataset>.selfhdr`` beside the dataset."""
    dataset = Path(dataset).resolve()
    return dataset.parent / f"{dataset.name}.selfhdr"


@dataclass
class ColorCache:
    """Paths of one scene's cached color component."""

    folder: Path

    @property
    def y_color(self) -> Path:
        return self.folder / COLOR_FILE

    @property
    def gate(self) -> Path:
        return self.folder / GATE_FILE

    @property
    def meta(self) -> Path:
        return self.folder / META_FILE

    def aligned(self, k: int) -> Path:
        return self.folder / f"aligned_{k}.exr"

    def is_complete(self) -> bool:
        """Whether ``meta.json`` and every file it lists exist (a half-written cache is not)."""
        if not self.meta.is_file() or not self.y_color.is_file() or not self.gate.is_file():
            return False
        try:
            n = len(json.loads(self.meta.read_text())["frames"])
        except (ValueError, KeyError, TypeError):
            return False
        return all(self.aligned(k).is_file() for k in range(n))

    def recorded_settings(self) -> dict | None:
        """The settings the cache was built with (``settings_record``), None if unreadable."""
        try:
            meta = json.loads(self.meta.read_text())
            return {key: meta[key] for key in SETTINGS_KEYS}
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def load(self) -> tuple[np.ndarray, list[np.ndarray], dict]:
        """(Y_color, aligned frames, metadata)."""
        meta = json.loads(self.meta.read_text())
        aligned = [read_hdr_image(self.aligned(k)) for k in range(len(meta["frames"]))]
        return read_hdr_image(self.y_color), aligned, meta

    def load_gate(self) -> np.ndarray:
        """The static gate, float32 (H, W, 1) in [0, 1]."""
        return read_hdr_image(self.gate)[..., :1]


SETTINGS_KEYS = ("frames", "frame_stats", "relative_times", "reference", "response", "raw", "align", "merge", "seams")


def settings_record(plan: BracketPlan, config: ColorConfig, bracket: BracketSettings) -> dict:
    """What a color cache depends on: the frames (names, and size and modification time, so a
    frame rewritten under the same name is seen), their relative exposures, the reference,
    the camera response by content (``CameraResponse.identity``: a response file recalibrated
    in place is another response), RAW development, the alignment and the merge's seam settings.
    JSON-ready."""
    stats = [Path(p).stat() for p in plan.paths]
    raw = asdict(bracket.raw) if any(is_raw(p) for p in plan.paths) else None
    return {"frames": [p.name for p in plan.paths], "frame_stats": [[s.st_size, s.st_mtime_ns] for s in stats],
            "relative_times": [round(float(t / plan.times[0]), 9) for t in plan.times],
            "reference": int(plan.reference), "response": config.response.identity, "raw": raw,
            "align": asdict(config.align), "merge": config.merge, "seams": asdict(config.seams)}


def write_color_cache(cache: ColorCache, bracket: Bracket, y_color: np.ndarray, aligned: list[np.ndarray],
                      gate: np.ndarray, settings: dict) -> None:
    """Write Y_color, the aligned frames and the gate (float32 EXR, lossless), then ``meta.json``.

    A Y_stru beside them was made from the old aligned frames: it is removed.
    """
    cache.folder.mkdir(parents=True, exist_ok=True)
    for stale in (cache.meta, cache.folder / STRU_FILE):
        if stale.exists():
            stale.unlink()  # an old marker must not vouch for half-rewritten files
    write_hdr_image(cache.y_color, y_color)
    write_hdr_image(cache.gate, np.repeat(gate[..., None], 3, axis=-1))
    for k, frame in enumerate(aligned):
        write_hdr_image(cache.aligned(k), frame)
    meta = {
        **settings,
        "frame_paths": [str(p) for p in bracket.paths],
        "times": [float(t) for t in bracket.times],
        "absolute_times": bool(bracket.absolute),
        "exposure_source": bracket.exposure_source,
        "units": "short-exposure",
    }
    write_bytes_atomic(cache.meta, (json.dumps(meta, indent=2) + "\n").encode())


def build_color_scene(frames: list[Path], out_folder: Path, config: ColorConfig, bracket: BracketSettings,
                      force: bool = False, exposures: str | None = None, ev: str | None = None,
                      reference: str | None = None) -> tuple[str, str]:
    """Build one scene's color component into ``out_folder``, reading its frames with
    ``bracket`` (whose response must be ``config``'s).

    Returns (status, why): ``built``; ``skipped`` when a complete cache with the same
    settings exists (and not ``force``); ``rebuilt`` when the existing cache was made with
    other settings (``why`` names them).
    """
    if bracket.response.identity != config.response.identity:
        raise ValueError("the bracket settings and the color config name two camera responses")
    cache = ColorCache(Path(out_folder))
    plan = plan_bracket(frames, bracket, exposures=exposures, ev=ev, reference=reference)
    settings = settings_record(plan, config, bracket)
    status, why = "built", ""
    if cache.is_complete():
        old = cache.recorded_settings()
        if old == settings and not force:
            return "skipped", ""
        if old != settings:
            status, why = "rebuilt", "unreadable meta.json" if old is None else config_difference(old, settings)
    decoded = decode_plan(plan, bracket)
    result = build_color(decoded, config)
    write_color_cache(cache, decoded, result.y_color, result.aligned, result.gate, settings)
    return status, why
