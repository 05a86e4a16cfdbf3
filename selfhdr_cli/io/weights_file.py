"""Weights files on disk, read without torch: where the shipped ones are, and their header.

A weights file is safetensors (never a pickle) whose header metadata holds ``format``
(``FORMAT``), ``network`` (registry name), ``config`` (JSON keyword arguments that rebuild
the network) and ``info`` (JSON: how the weights were made). ``nets.weights`` builds and saves
networks from them with torch; the numpy FastNet (``merge.fastnet_numpy``) reads them here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from selfhdr_cli.errors import InputFileError, UsageError
from selfhdr_cli.io.native import decoder_reason

FORMAT = "selfhdr-weights-1"
DEFAULT_WEIGHTS_NAME = "selfhdr-fastnet.safetensors"


def default_weights() -> str:
    """The shipped weights: ``$SELFHDR_WEIGHTS``, else ``weights/selfhdr-fastnet.safetensors`` of
    the project checkout (beside the package), else the copy a wheel installs under
    ``<prefix>/share/selfhdr/weights``."""
    env = os.environ.get("SELFHDR_WEIGHTS")
    if env:
        return env
    checkout = Path(__file__).resolve().parents[2]  # selfhdr_cli/io/weights_file.py → the project folder
    for candidate in (checkout / "weights" / DEFAULT_WEIGHTS_NAME,
                      Path(sys.prefix) / "share" / "selfhdr" / "weights" / DEFAULT_WEIGHTS_NAME):
        if candidate.is_file():
            return str(candidate)
    raise UsageError("no default weights are installed: pass --weights, or merge with --method color")


def read_weights_metadata(path: str | Path) -> dict:
    """The metadata of a weights file: network, config (dict), info (dict). A missing file is a
    UsageError; anything that is not a selfhdr weights file an InputFileError (one line each)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UsageError("no such weights file", path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError("not a selfhdr weights file (no selfhdr metadata)")
        return {"network": meta["network"], "config": json.loads(meta["config"]), "info": json.loads(meta["info"])}
    except Exception as exc:
        raise InputFileError(f"not a usable weights file ({decoder_reason(exc)})", path) from None
