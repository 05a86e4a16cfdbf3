"""Network weights on disk: safetensors (no pickle) with the config that rebuilds the net.

The header's metadata holds ``network`` (registry name), ``config`` (JSON keyword
arguments) and ``info`` (JSON: how the weights were made). Loading never unpickles.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from selfhdr_cli.errors import InputFileError, SelfHDRError, UsageError
from selfhdr_cli.io.atomic import atomic_path
from selfhdr_cli.io.native import decoder_reason
from selfhdr_cli.io.weights_file import DEFAULT_WEIGHTS_NAME, FORMAT, default_weights, read_weights_metadata  # noqa: F401
from selfhdr_cli.nets import NETWORKS, build_network


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
