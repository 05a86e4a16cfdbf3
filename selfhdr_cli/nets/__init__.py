"""Network registry: every network maps (B, 3, 6, H, W) frames [H_k, I_k] in exposure
order (short, reference, long) to (B, 3, H, W) HDR in [0, 1], short-exposure units.

A network declares ``needs_alignment`` (it wants the flow-aligned frames too),
``needs_guide`` (it wants the guide: Y_color and the static gate, (B, 4, H, W)),
``stride`` (H and W must be multiples) and ``receptive_field`` (px, for tiling), and
keeps the keyword arguments that rebuild it in ``config``.
"""

from __future__ import annotations

from torch import nn

from selfhdr_cli.errors import UsageError

from .ahdrnet import AHDRNet
from .fastnet import FastNet

NETWORKS: dict[str, type[nn.Module]] = {"fastnet": FastNet, "ahdrnet": AHDRNet}
DEFAULT_NETWORK = "fastnet"


def build_network(name: str, config: dict | None = None) -> nn.Module:
    """Instantiate a registered network by name with its ``config`` keyword arguments."""
    if name not in NETWORKS:
        raise UsageError(f"unknown network {name!r}; choose one of {', '.join(NETWORKS)}")
    try:
        return NETWORKS[name](**(config or {}))
    except TypeError as exc:
        raise UsageError(f"bad configuration for {name}: {exc}") from None


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["NETWORKS", "DEFAULT_NETWORK", "build_network", "count_parameters", "AHDRNet", "FastNet"]
