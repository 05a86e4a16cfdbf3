"""selfhdr: ghost-free HDR merging of exposure brackets (SelfHDR, ICLR 2024).

The core is a library; the ``selfhdr`` command is a thin shell over it.
"""

from selfhdr_cli.merge.bracket import Bracket, bracket_from_arrays, load_bracket, plan_bracket
from selfhdr_cli.merge.colour import ColorConfig, build_color, merge_triangle, triangle_weights
from selfhdr_cli.merge.debevec import merge_debevec
from selfhdr_cli.errors import InputFileError, SelfHDRError, UsageError
from selfhdr_cli.io.hdrfile import read_hdr_image, write_hdr_image
from selfhdr_cli.merge.method import MergeConfig, merge_bracket
from selfhdr_cli.radiometry.response import CameraResponse, parse_response
from selfhdr_cli.radiometry.tonemap import mu_law, reinhard, tonemap

__version__ = "0.1.0"

__all__ = [
    "Bracket", "bracket_from_arrays", "load_bracket", "plan_bracket",
    "ColorConfig", "build_color", "merge_triangle", "triangle_weights", "merge_debevec",
    "SelfHDRError", "UsageError", "InputFileError", "read_hdr_image", "write_hdr_image",
    "MergeConfig", "merge_bracket", "CameraResponse", "parse_response", "mu_law", "reinhard", "tonemap",
]
