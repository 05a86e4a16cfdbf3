"""Merging a bracket with a trained network (``--method net``): what its weights say it was
trained behind (the flow, the color merge of its guide), its inputs, and the engine that runs it.

FastNet on a CPU runs in numpy (``merge.fastnet_numpy``: no torch import, and a guided net only
where its gate is below 1); every other case in torch, tiled (``merge.infer``). This module
imports no torch itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from selfhdr_cli.errors import InputFileError, UsageError
from selfhdr_cli.merge.align import AlignConfig, align_bracket, align_bracket_with_coverage
from selfhdr_cli.merge.bracket import Bracket, three_frames
from selfhdr_cli.merge.color import ColorConfig, color_and_gate
from selfhdr_cli.merge.engine import network_engine
from selfhdr_cli.radiometry.response import CameraResponse

DEFAULT_TILE = 0          # auto: the whole image up to AUTO_SINGLE_TILE² pixels, else AUTO_TILE tiles
AUTO_SINGLE_TILE = 1536   # one pass is fastest while it fits comfortably in memory
AUTO_TILE = 768           # bounded memory on large images (6000×4000 in < 4 GB)


@dataclass(frozen=True)
class TileConfig:
    """Tile size (px, before overlap; 0 = automatic) and overlap on each side (None: the network's
    receptive field)."""

    tile: int = DEFAULT_TILE
    overlap: int | None = None



def _training_config(meta: dict) -> dict:
    """The training config in a weights header: ``config`` for final weights, ``record`` for stage 1."""
    info = meta.get("info", {})
    return info.get("config") or info.get("record") or {}


class MissingRecord(InputFileError):
    """Weights that do not say how they were trained, where the merge needs to know."""


def trained_color_merge(meta: dict, weights: str | Path = "") -> str:
    """The color component a guided network was trained with (its Y_color input). Weights
    without a record are refused (MissingRecord): a guess would feed the network another input."""
    config = _training_config(meta)
    merge = config.get("color_merge", config.get("colour_merge"))  # older records: the British spelling
    if merge is None:
        raise MissingRecord("weights without a record of the color merge they were trained with "
                            "(retrain them with this version)", weights or None)
    return merge


def network_guide(aligned: list[np.ndarray], relative_times: np.ndarray, reference: int,
                  config: ColorConfig, covered: list[np.ndarray] | None = None) -> np.ndarray:
    """The guide of a guided network: Y_color from every aligned frame and the static gate, float32 (H, W, 4)."""
    y, gate = color_and_gate(aligned, relative_times, reference, config, covered=covered)
    return np.concatenate([y, gate[..., None]], axis=-1)


def trained_alignment(meta: dict, weights: str | Path = "") -> AlignConfig:
    """The alignment a network was trained behind (recorded in its weights' training config):
    for FastNet the flow is a fixed layer, so merging with another one is a different network.
    Weights without a record are refused (MissingRecord) unless the caller chooses a flow."""
    config = _training_config(meta)
    if "flow" not in config:
        raise MissingRecord("weights without a record of the alignment they were trained behind: pass --flow "
                            "to choose one", weights or None)
    return AlignConfig(flow=config["flow"], interpolation=config.get("interpolation", "cubic"),
                       rigid_motion=recorded_rigid_motion(config))


LEGACY_MOTIONS = {"homography": "rigid", "none": "none"}  # weights trained before the rename said global_motion


def recorded_rigid_motion(config: dict) -> str:
    """The rigid-motion setting a training record holds (``rigid_motion``; older records:
    ``global_motion``, whose ``homography`` always fitted a rigid motion)."""
    if "rigid_motion" in config:
        return config["rigid_motion"]
    return LEGACY_MOTIONS.get(config.get("global_motion", "none"), "none")


def merge_with_network(bracket: Bracket, weights: str, response: CameraResponse, align_config: AlignConfig | None,
                       tiles: TileConfig = TileConfig(),
                       device: str = "auto", progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Merge a Bracket with trained weights (the ``net`` method).

    Picks (shortest, reference, longest) among the bracket's frames, aligns them with the
    color component's flow when the network wants it (``needs_alignment``), and runs it
    (``merge.engine.network_engine``: numpy for FastNet on a CPU, else torch, tiled). A guided
    network gets Y_color merged from every frame, with the color merge recorded in its weights,
    and the static gate. ``align_config`` None: the alignment the weights were trained behind
    (``trained_alignment``). ``weights``: a ``.safetensors`` file from ``selfhdr train``.
    ``response``: the g used for the network's H_k = g(I_k) / t_k inputs. Returns float32
    (H, W, 3) HDR in short-exposure units, in [0, 1]. Process-wide settings (threads, allocator)
    are the caller's: ``merge.device.configure_cpu``.
    """
    if not Path(weights).is_file():
        raise UsageError("no such weights file", weights)
    engine = network_engine(weights, device, tiles.tile)
    if engine == "numpy":
        fast, meta = _fastnet_for(str(weights), Path(weights).stat().st_mtime_ns)
        needs_alignment, needs_guide = True, fast.guide
    else:
        from selfhdr_cli.merge.device import pick_device
        from selfhdr_cli.merge.infer import network_for

        dev = pick_device(device)
        net, meta = network_for(str(weights), Path(weights).stat().st_mtime_ns, str(dev))
        needs_alignment, needs_guide = getattr(net, "needs_alignment", False), getattr(net, "needs_guide", False)
    align_config = align_config or trained_alignment(meta, weights)
    pick = three_frames(len(bracket), bracket.reference)
    ldr = [bracket.frames[i] for i in pick]  # no stacking: large images are not copied
    times = np.asarray([bracket.relative_times[i] for i in pick], np.float32)
    aligned, guide = None, None
    if needs_guide:
        every, covered = align_bracket_with_coverage(bracket.frames, bracket.times, bracket.reference, response,
                                                     align_config, bracket.rigid_motions)
        guide = network_guide(every, bracket.relative_times, bracket.reference,
                              ColorConfig(response=response, align=align_config, merge=trained_color_merge(meta, weights)),
                              covered)
        aligned = [every[i] for i in pick]
    elif needs_alignment:
        aligned = align_bracket(ldr, bracket.times[pick], 1, response, align_config)
    if engine == "numpy":
        from selfhdr_cli.merge.fastnet_numpy import predict_fastnet

        out = predict_fastnet(fast, aligned, times, response, guide)
        if progress:
            progress(1, 1)
        return out
    from selfhdr_cli.merge.infer import predict

    return predict(net, ldr, aligned, times, response, tiles, dev, progress, guide)


@lru_cache(maxsize=2)
def _fastnet_for(weights: str, mtime_ns: int):
    """FastNet's numpy weights, read once per process (batches and evaluations merge many brackets with one file)."""
    from selfhdr_cli.merge.fastnet_numpy import load_fastnet_weights

    return load_fastnet_weights(weights)
