"""Will a merge fit in memory? An estimate from the frame headers, checked before decoding.

Three 120 MP PNGs weigh a megabyte on disk and need tens of GB once decoded and merged; a
merge that cannot fit is refused in one line instead of dying in the middle with a
MemoryError. The bytes per pixel were measured on 6000×4000 brackets
(``benchmarks/big_merge.py``: 3.8 GB peak for ``net``, 2.5 GB for ``color``) and rounded up.
"""

from __future__ import annotations

import resource
from pathlib import Path

from selfhdr_cli.errors import SelfHDRError

# peak bytes per pixel: (per frame, fixed); frames are float32 RGB (12 B/px), aligned copies alike
BYTES_PER_PIXEL = {"net": (24, 100), "color": (24, 40), "debevec": (12, 40), "ref": (12, 20)}


def merge_bytes(height: int, width: int, frames: int, method: str) -> int:
    """Estimated peak memory of one merge in bytes (an upper bound on the measured ones)."""
    per_frame, fixed = BYTES_PER_PIXEL.get(method, BYTES_PER_PIXEL["net"])
    return height * width * (per_frame * frames + fixed)


def available_bytes() -> int | None:
    """Memory this process may still use: the smaller of what the system has free (MemAvailable
    plus free swap) and what its address-space limit leaves; None when neither is known."""
    limits = []
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        free_kb = int(info["MemAvailable"].split()[0]) + int(info.get("SwapFree", "0 kB").split()[0])
        limits.append(free_kb * 1024)
    except (OSError, KeyError, ValueError):
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
                          if ":" in line)
            used = int(status["VmSize"].split()[0]) * 1024
        except (OSError, KeyError, ValueError):
            used = 0
        limits.append(max(0, soft - used))
    return min(limits) if limits else None


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
