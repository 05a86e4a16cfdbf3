"""Where and how the numerical work runs: device choice, CPU threads, allocator settings.

Settings that make torch fast on this kind of CPU (PLATFORM.md): denormals flushed, and
glibc told to keep freed memory instead of returning it page by page. The network path of
merging and evaluation, and training, call ``configure_cpu`` once per process. torch is
imported inside the functions that need it, so the numpy-only merges (and their batch
workers, which count cores here) never pay its import.
"""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Iterable, TypeVar

import cv2

from selfhdr_cli.errors import UsageError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")
R = TypeVar("R")
PARALLEL_PIXEL_BUDGET = 3_000_000  # px of numpy pieces in flight at once: on 24 MP one at a time (the 4 GB bound)


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cpu``, ``cuda``, ``cuda:N`` (or ``mps``) as asked.
    Raises UsageError for a device that does not parse or is not there, before any work."""
    import torch

    text = str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {name!r}: unknown device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: no CUDA device here (this torch build or machine has none); "
                             "use --device cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UsageError(f"--device {name}: no such CUDA device ({count} visible: cuda:0..cuda:{count - 1})")
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UsageError(f"--device {name}: no MPS device here; use --device cpu")
    elif device.type != "cpu":
        raise UsageError(f"--device {name!r}: unsupported device type; use auto, cpu, cuda or cuda:N")
    return device


def configure_cpu(threads: int | None = None, share: int = 1, torch_settings: bool = True) -> int:
    """Use ``threads`` threads (default: the cores this process may use, divided among ``share``
    processes) in OpenCV and, with ``torch_settings``, in torch, whose denormals are flushed; keep
    freed memory (``keep_freed_memory``). Without ``torch_settings`` torch is not imported (the
    numpy network engine). Returns the thread count."""
    keep_freed_memory()
    threads = max(1, int(threads or available_cores() // max(1, share)))
    if torch_settings:
        import torch

        torch.set_flush_denormal(True)
        torch.set_num_threads(threads)
    cv2.setNumThreads(threads)  # the flows and the numpy pieces (``map_pieces``) follow
    return threads


def map_pieces(work: Callable[[T], R], pieces: Iterable[T], pixels_each: int) -> list[R]:
    """``[work(p) for p in pieces]``, in threads when that pays: numpy and OpenCV release the GIL
    on large arrays. No more threads than OpenCV's count (the process's share of the cores; batch
    workers and ``configure_cpu`` set it), and no more pieces in flight than
    ``PARALLEL_PIXEL_BUDGET`` px, so memory stays bounded on large images. Results in order."""
    pieces = list(pieces)
    workers = min(cv2.getNumThreads(), len(pieces), PARALLEL_PIXEL_BUDGET // max(1, pixels_each))
    if workers <= 1:
        return [work(p) for p in pieces]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(work, pieces))


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory instead of returning it page by page: with its defaults
    up to a third of training time goes to page faults on large tensors (PLATFORM.md). The
    equivalent of MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2GiB (mallopt takes a C int: an earlier
    64 GiB wrapped to 0, which returned memory on every free). Returns False off glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max, m_arena_max = -1, -4, -8
        # one arena: a thread's own arena lives in 64 MB heaps that are unmapped when they empty, so the
        # merge's strips (13 MB temporaries, in threads) faulted in fresh pages every time (a third of
        # a 2 MP merge's time was system time)
        return (bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
                and bool(libc.mallopt(m_arena_max, 1)))
    except (OSError, AttributeError):
        return False
