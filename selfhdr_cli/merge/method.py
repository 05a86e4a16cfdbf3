"""Merging a bracket into one HDR image with a chosen method.

Methods: ``color`` (the SelfHDR colour component, aligned), ``debevec`` (classical,
unaligned), ``ref`` (the reference frame alone, linearised: the no-merge baseline),
``net`` (a trained network, tiled; needs ``weights``). Output is float32 (H, W, 3) RGB in short-exposure units unless
``units="seconds"`` asks for radiance per second of exposure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from selfhdr_cli.merge.bracket import Bracket
from selfhdr_cli.merge.colour import ColorConfig, build_color
from selfhdr_cli.merge.debevec import merge_debevec
from selfhdr_cli.errors import UsageError
from selfhdr_cli.radiometry.response import CameraResponse

METHODS = ("color", "debevec", "ref", "net")
UNITS = ("short", "seconds")


@dataclass(frozen=True)
class MergeConfig:
    """What ``merge`` does: method, camera response, colour-component settings, output units."""

    method: str = "color"
    response: CameraResponse = field(default_factory=CameraResponse)
    color: ColorConfig | None = None
    units: str = "short"
    weights: str | None = None
    tile: int = 0  # automatic (infer.DEFAULT_TILE)
    device: str = "auto"
    threads: int | None = None


def merge_bracket(bracket: Bracket, config: MergeConfig = MergeConfig(), progress=None) -> np.ndarray:
    """Merge ``bracket`` into HDR radiance, float32 (H, W, 3) RGB."""
    if config.units not in UNITS:
        raise UsageError(f"unknown units {config.units!r}; use short or seconds")
    if config.units == "seconds" and not bracket.absolute:
        raise UsageError(f"--units seconds needs exposure times in seconds, but {bracket.exposure_source} "
                         "gives only relative stops; pass --exposures")
    if config.method == "color":
        color_cfg = config.color or ColorConfig(response=config.response)
        hdr = build_color(bracket, color_cfg).y_color
    elif config.method == "net":
        from selfhdr_cli.merge.infer import TileConfig, merge_with_network
        from selfhdr_cli.nets.weights import default_weights

        color_cfg = config.color or ColorConfig(response=config.response)
        weights = config.weights or default_weights()
        hdr = merge_with_network(bracket, weights, config.response, color_cfg.align, TileConfig(tile=config.tile),
                                 config.device, progress, config.threads)
    elif config.method == "ref":
        r = bracket.reference
        hdr = config.response.to_linear(bracket.frames[r]) / np.float32(bracket.relative_times[r])
    elif config.method == "debevec":
        hdr = merge_debevec(bracket.frames, bracket.relative_times, config.response)
    else:
        raise UsageError(f"unknown merge method {config.method!r}; choose one of {', '.join(METHODS)}")
    if config.units == "seconds":
        hdr = hdr / np.float32(bracket.times[0])
    return hdr
