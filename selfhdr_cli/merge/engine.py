"""Which engine runs ``--method net``: FastNet's numpy forward pass on a CPU, torch otherwise.

The numpy engine (``merge.fastnet_numpy``) spares a CPU merge torch's import (≈ 1.5 s and
≈ 300 MB here) and computes a guided FastNet only where its gate is below 1. torch runs
every other network, any GPU, and explicit ``--tile`` sizes (its tiling). Deciding reads
the weights' header only; torch is never imported to decide.
"""

from __future__ import annotations

from pathlib import Path

from selfhdr_cli.io.weights_file import default_weights, read_weights_metadata

ENGINES = ("numpy", "torch")


def cuda_device_present() -> bool:
    """Whether an NVIDIA driver exposes a device here (what ``--device auto`` would pick), checked
    without importing torch."""
    return Path("/dev/nvidiactl").exists()


def network_engine(weights: str | Path, device: str = "auto", tile: int = 0) -> str:
    """``numpy`` for FastNet weights on a CPU (``device`` ``cpu``, or ``auto`` with no CUDA
    device) with automatic tiling (``tile`` 0), else ``torch``. Reads ``weights``' header:
    UsageError / InputFileError for a missing or foreign file."""
    meta = read_weights_metadata(weights)
    name = str(device).strip().lower()
    on_cpu = name == "cpu" or (name == "auto" and not cuda_device_present())
    return "numpy" if meta["network"] == "fastnet" and on_cpu and tile == 0 else "torch"


def resolve_network(weights: str | None, device: str = "auto", tile: int = 0) -> tuple[str, str]:
    """(weights path, engine) of a network merge, the file checked whole before any heavy work:
    ``weights`` None is the shipped default. The numpy engine checks it without torch."""
    path = str(weights) if weights is not None else default_weights()
    engine = network_engine(path, device, tile)
    if engine == "numpy":
        from selfhdr_cli.merge.fastnet_numpy import load_fastnet_weights

        load_fastnet_weights(path)
    else:
        from selfhdr_cli.merge.device import pick_device
        from selfhdr_cli.nets.weights import resolve_weights

        pick_device(device)
        resolve_weights(path)
    return path, engine
