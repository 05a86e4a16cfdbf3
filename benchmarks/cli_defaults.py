"""The settings a plain ``selfhdr`` command line gives, spelled out for the scripts here.

The core takes no silent defaults (a forgotten camera response is an error, not gamma 2.2):
scripts name theirs, and these are the command line's.
"""

from __future__ import annotations

from selfhdr_cli.merge.align import AlignConfig
from selfhdr_cli.merge.bracket import BracketSettings, bracket_settings
from selfhdr_cli.merge.color import DEFAULT_COLOR_MERGE, ColorConfig
from selfhdr_cli.radiometry.response import DEFAULT_RESPONSE, CameraResponse


def settings(response: CameraResponse = DEFAULT_RESPONSE, trust_exposures: bool = False,
             fit_response: bool = False) -> BracketSettings:
    """``--crf gamma:2.2 --wb camera --raw-space srgb``, exposures checked against the pixels;
    ``fit_response``: ``--crf auto`` (merge's default), ``response`` where the fit is not kept."""
    return bracket_settings(response, "camera", "srgb", trust_exposures, fit_response)


def color_config(response: CameraResponse = DEFAULT_RESPONSE, merge: str = DEFAULT_COLOR_MERGE,
                 **align) -> ColorConfig:
    """``--method color``'s colour settings: ``response``, the default flow (or ``align``), ``merge``."""
    return ColorConfig(response=response, align=AlignConfig(**align), merge=merge)
