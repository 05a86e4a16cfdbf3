"""Will a merge fit in memory? An estimate from the frame headers, checked before decoding.

Three 120 MP PNGs weigh a megabyte on disk and need tens of GB once decoded and merged; a
merge that cannot fit is refused in one line instead of dying in the middle with a
MemoryError. The bytes per pixel were measured on 6000×4000 brackets of three frames
(``benchmarks/peer_speed.py``, whole process: 4.0 GB peak for ``net``, 3.3 GB for ``color``)
and rounded up.
"""

from __future__ import annotations

import resource
from pathlib import Path

from selfhdr_cli.errors import SelfHDRError

# peak bytes per pixel: (per frame, fixed); frames are float32 RGB (12 B/px), aligned copies alike
BYTES_PER_PIXEL = {"net": (24, 100), "color": (24, 72), "debevec": (12, 40), "ref": (12, 20)}


def merge_bytes(height: int, width: int, frames: int, method: str) -> int:
    """Estimated peak memory of one merge in bytes (an upper bound on the measured ones)."""
    per_frame, fixed = BYTES_PER_PIXEL.get(method, BYTES_PER_PIXEL["net"])
    return height * width * (per_frame * frames + fixed)


def available_bytes() -> int | None:
    """Memory this process may still use: the smaller of what the system has free (MemAvailable
    plus free swap) and what its address-space limit leaves; None when neither is known."""
    limits = []
    meminfo = _proc_kib("/proc/meminfo")
    if "MemAvailable" in meminfo:
        limits.append((meminfo["MemAvailable"] + meminfo.get("SwapFree", 0)) * 1024)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(max(0, soft - _proc_kib("/proc/self/status").get("VmSize", 0) * 1024))
    return min(limits) if limits else None


def _proc_kib(path: str) -> dict[str, int]:
    """The ``Name: N kB`` fields of a /proc file, in KiB; empty where the file cannot be read."""
    fields = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return fields
    for line in lines:
        name, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0])
    return fields


def check_memory(plan, config) -> None:
    """Refuse, before decoding, a merge whose estimated peak exceeds the memory available.
    ``plan``: a BracketPlan (paths, size); ``config``: a MergeConfig (method)."""
    height, width = plan.size
    need = merge_bytes(height, width, len(plan.paths), config.method)
    have = available_bytes()
    if have is not None and need > have:
        raise SelfHDRError(f"a {width}x{height} merge of {len(plan.paths)} frames ({config.method}) needs about "
                           f"{need / 2**30:.1f} GiB of memory, {have / 2**30:.1f} GiB is available; "
                           "merge smaller images (or free memory)", plan.paths[0])
