"""Silencing what native decoders print: libpng, OpenCV and LibRaw write their own lines on
corrupt files, which would break the one-line error contract; the failure is reported by us."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Mute C-level stderr (file descriptor 2) for the duration."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
