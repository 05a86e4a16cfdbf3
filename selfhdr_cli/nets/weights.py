"""Network weights on disk: safetensors (no pickle) with the config that rebuilds the net.

The header's metadata holds ``network`` (registry name), ``config`` (JSON keyword
arguments) and ``info`` (JSON: how the weights were made). Loading never unpickles.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from selfhdr_cli.errors import InputFileError, SelfHDRError, UsageError
from selfhdr_cli.io.atomic import atomic_path
from selfhdr_cli.io.native import decoder_reason
from selfhdr_cli.nets import NETWORKS, build_network

FORMAT = "selfhdr-weights-1"
DEFAULT_WEIGHTS_NAME = "selfhdr-fastnet.safetensors"


def default_weights() -> str:
    """The shipped weights: ``$SELFHDR_WEIGHTS``, else ``weights/selfhdr-fastnet.safetensors`` of
    the project checkout (beside the package), else the copy a wheel installs under
    ``<prefix>/share/selfhdr/weights``."""
    env = os.environ.get("SELFHDR_WEIGHTS")
    if env:
        return env
    checkout = Path(__file__).resolve().parents[2]  # selfhdr_cli/nets/weights.py → the project folder
    for candidate in (checkout / "weights" / DEFAULT_WEIGHTS_NAME,
                      Path(sys.prefix) / "share" / "selfhdr" / "weights" / DEFAULT_WEIGHTS_NAME):
        if candidate.is_file():
            return str(candidate)
    raise UsageError("no default weights are installed: pass --weights, or merge with --method color")


def require_finite(net: nn.Module, path: str | Path) -> None:
    """Refuse to write weights holding NaN or infinite values (a diverged run): SelfHDRError."""
    bad = [k for k, v in net.state_dict().items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise SelfHDRError(f"the trained weights hold NaN or infinite values ({bad[0]}, {len(bad)} tensors): "
                           "not written; train again with a smaller --lr", path)


def save_weights(path: str | Path, net: nn.Module, name: str, info: dict | None = None) -> None:
    """Write ``net``'s state dict and rebuild config to ``path`` (.safetensors) atomically; never
    non-finite weights (``require_finite``)."""
    require_finite(net, path)
    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    meta = {"format": FORMAT, "network": name, "config": json.dumps(getattr(net, "config", {})),
            "info": json.dumps(info or {})}
    with atomic_path(path) as tmp:
        try:
            save_file(state, str(tmp), metadata=meta)
        except OSError:
            raise
        except Exception as exc:  # safetensors reports a failed write (disk full) as its own error type
            raise OSError(decoder_reason(exc)) from None


def resolve_weights(path: str | Path | None) -> str:
    """The weights a merge will use (``path``, else the shipped default), checked now so a bad
    file fails before any heavy work."""
    weights = str(path) if path is not None else default_weights()
    load_weights(weights)  # metadata, shapes and finite values: a small file, read whole
    return weights


def read_weights_metadata(path: str | Path) -> dict:
    """The metadata of a weights file: network, config (dict), info (dict)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError("no such weights file", path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError("not a selfhdr weights file (no selfhdr metadata)")
        return {"network": meta["network"], "config": json.loads(meta["config"]), "info": json.loads(meta["info"])}
    except Exception as exc:
        raise InputFileError(f"not a usable weights file ({decoder_reason(exc)})", path) from None


def load_weights(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the network a weights file describes and load its tensors. Returns (net, metadata)."""
    meta = read_weights_metadata(path)
    if meta["network"] not in NETWORKS:
        raise InputFileError(f"unknown network {meta['network']!r} in weights", path)
    try:
        net = build_network(meta["network"], meta["config"])
    except (TypeError, ValueError, UsageError):  # settings this version's network does not take
        raise InputFileError(f"weights describe a {meta['network']} this version cannot build (its settings "
                             f"{sorted(meta['config'])} do not fit)", path) from None
    try:
        state = load_file(str(path))
        net.load_state_dict(state, strict=True)
    except Exception as exc:
        raise InputFileError(f"weights do not match {meta['network']} ({decoder_reason(exc)})", path) from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:  # a diverged training run: merging with them writes zeros
        raise InputFileError(f"weights hold NaN or infinite values ({bad[0]}): not usable", path)
    return net.eval(), meta
