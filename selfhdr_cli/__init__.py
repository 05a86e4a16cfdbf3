"""selfhdr: ghost-free HDR merging of exposure brackets (SelfHDR, ICLR 2024).

The core is a library; the ``selfhdr`` command is a thin shell over it. Layers, each
importing only those below it::

    cli                 the command line (Typer, rich)
    training            losses, training set, loop, the two-stage recipe, caches
    evaluation          metrics, scoring, labelled-bracket synthesis
    merge               bracket, alignment, color component, classical merge, network inference, files
    nets                architectures and their weights files
    radiometry          camera response, μ-law, luma, frame weights, tone mapping
    io                  frame decoding, HDR files, atomic writes, exposure metadata, dataset layout

The names below are loaded on first use, so ``import selfhdr_cli`` stays cheap (torch
is imported only by what needs it).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Bracket": "merge.bracket", "bracket_from_arrays": "merge.bracket", "load_bracket": "merge.bracket",
    "plan_bracket": "merge.bracket", "BracketSettings": "merge.bracket", "bracket_settings": "merge.bracket",
    "configure_cpu": "merge.device",
    "AlignConfig": "merge.align",
    "ColorConfig": "merge.color", "build_color": "merge.color", "merge_triangle": "merge.color",
    "merge_debevec": "merge.debevec",
    "MergeConfig": "merge.method", "merge_bracket": "merge.method",
    "SelfHDRError": "errors", "UsageError": "errors", "InputFileError": "errors",
    "read_hdr_image": "io.hdrfile", "write_hdr_image": "io.hdrfile",
    "read_ldr": "io.frames",
    "CameraResponse": "radiometry.response", "parse_response": "radiometry.response",
    "DEFAULT_RESPONSE": "radiometry.response",
    "mu_law": "radiometry.mulaw", "inverse_mu_law": "radiometry.mulaw",
    "triangle_weights": "radiometry.weighting",
    "reinhard": "radiometry.tonemap", "tonemap": "radiometry.tonemap",
    "score_hdr": "evaluation.metrics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"selfhdr_cli.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'selfhdr_cli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
