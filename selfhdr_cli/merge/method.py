"""Merging a bracket into one HDR image with a chosen method.

Methods: ``color`` (the SelfHDR color component, aligned), ``debevec`` (classical,
unaligned), ``ref`` (the reference frame alone, linearised: the no-merge baseline),
``net`` (a trained network, tiled; the shipped weights unless ``weights`` is given).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from selfhdr_cli.errors import UsageError
from selfhdr_cli.merge.align import AlignConfig
from selfhdr_cli.merge.bracket import Bracket, BracketSettings
from selfhdr_cli.merge.color import DEFAULT_COLOR_MERGE, ColorConfig, MergeStats, build_color
from selfhdr_cli.merge.snr import Seams
from selfhdr_cli.merge.debevec import merge_debevec
from selfhdr_cli.radiometry.response import CameraResponse
from selfhdr_cli.radiometry.tonemap import OPERATORS

METHODS = ("color", "debevec", "ref", "net")
UNITS = ("short", "seconds")


# The network does not yet beat the SNR merge it starts from (docs/METHOD.md, "Why color is the default"):
# until it does on the validation split, the default is the merge itself.
DEFAULT_METHOD = "color"


@dataclass(frozen=True)
class MergeConfig:
    """Everything about how a bracket is merged and written, besides the frames themselves.

    The one configuration of ``merge``: the library's ``merge_bracket`` reads the merge
    fields, ``merge.files.merge_to_files`` also the output fields (``half``, ``tonemap``,
    ``force``). Plain values only, so it can be sent to worker processes.
    """

    method: str
    bracket: BracketSettings  # the response, RAW development and exposure trust: how frames are read
    align: AlignConfig | None = None  # None: the default flow; for ``net``, the one the weights were trained with
    units: str = "short"
    weights: str | None = None  # None: the shipped default (nets.weights.default_weights)
    tile: int = 0  # 0: automatic (merge.infer.DEFAULT_TILE)
    device: str = "auto"
    half: bool = False
    tonemap: str = "reinhard"
    force: bool = False
    color_merge: str | None = None  # --method color: merge.color.COLOR_MERGES; None: DEFAULT_COLOR_MERGE
    seams: Seams = Seams()  # the SNR merge's seam settings (library and ablations; no flag)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UsageError(f"unknown merge method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.units not in UNITS:
            raise UsageError(f"unknown units {self.units!r}; use {' or '.join(UNITS)}")
        if self.tonemap not in OPERATORS:
            raise UsageError(f"--tonemap {self.tonemap!r}: choose one of {', '.join(OPERATORS)}")
        if self.method != "net" and (self.weights is not None or self.tile != 0 or self.device != "auto"):
            raise UsageError(f"--weights, --tile and --device apply to --method net only, not {self.method}")
        if self.method != "color" and self.color_merge is not None:
            raise UsageError(f"--color-merge applies to --method color only, not {self.method}")
        if self.method != "color" and self.seams != Seams():
            raise UsageError(f"seam settings apply to --method color only, not {self.method}")

    @property
    def response(self) -> CameraResponse:
        """The camera response g of this run (``bracket.response``)."""
        return self.bracket.response

    def for_bracket(self, bracket: Bracket) -> "MergeConfig":
        """This config with ``bracket``'s own fitted response (``--crf auto``) in place of the run's,
        when it has one."""
        if bracket.response is None:
            return self
        return replace(self, bracket=replace(self.bracket, response=bracket.response))

    @property
    def color(self) -> ColorConfig:
        """The color component's settings (response and alignment) inside this config."""
        return ColorConfig(response=self.response, align=self.align or AlignConfig(),
                           merge=self.color_merge or DEFAULT_COLOR_MERGE, seams=self.seams)


def check_units(units: str, absolute_times: bool, exposure_source: str) -> None:
    """``--units seconds`` needs exposure times in seconds: refuse it for relative stops."""
    if units == "seconds" and not absolute_times:
        raise UsageError(f"--units seconds needs exposure times in seconds, but {exposure_source} "
                         "gives only relative stops; pass --exposures")


def merge_bracket(bracket: Bracket, config: MergeConfig,
                  progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Merge ``bracket`` into HDR radiance: ``merge_bracket_with_stats`` without the stats."""
    return merge_bracket_with_stats(bracket, config, progress)[0]


def merge_bracket_with_stats(bracket: Bracket, config: MergeConfig,
                             progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, MergeStats | None]:
    """Merge ``bracket`` into HDR radiance, and say what the SNR merge took from where.

    Parameters
    ----------
    bracket : Bracket
        Frames float32 (H, W, 3) RGB in [0, 1], in exposure order.
    config : MergeConfig
        Method and its settings; a bracket's own fitted response (``Bracket.response``) replaces
        the config's.
    progress : callable(done, total), optional
        Called after each network tile.

    Returns
    -------
    hdr : ndarray, float32 (H, W, 3), RGB, linear: short-exposure units (SPEC §1), or radiance
        per second of exposure with ``units="seconds"``.
    stats : MergeStats (``--method color`` with the SNR merge) or None.
    """
    check_units(config.units, bracket.absolute, bracket.exposure_source)
    config = config.for_bracket(bracket)
    stats = None
    if config.method == "color":
        result = build_color(bracket, config.color, gate=False)
        hdr, stats = result.y_color, result.stats
    elif config.method == "net":
        # torch loads only for a network the numpy engine does not run (merge.engine): the other methods and
        # FastNet on a CPU never pay its 1.5 s import
        from selfhdr_cli.io.weights_file import default_weights
        from selfhdr_cli.merge.network import TileConfig, merge_with_network

        weights = config.weights or default_weights()
        hdr = merge_with_network(bracket, weights, config.response, config.align, TileConfig(tile=config.tile),
                                 config.device, progress)
    elif config.method == "ref":
        r = bracket.reference
        hdr = config.response.to_linear(bracket.frames[r]) / np.float32(bracket.relative_times[r])
    else:
        hdr = merge_debevec(bracket.frames, bracket.relative_times, config.response)
    if config.units == "seconds":
        hdr = hdr / np.float32(bracket.times[0])
    return hdr, stats
