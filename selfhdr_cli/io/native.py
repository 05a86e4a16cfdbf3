"""What native decoders say, kept to one line: libpng, OpenCV and LibRaw write their own lines on
corrupt files, which would break the one-line error contract (silenced here), and their
exceptions carry messages of many shapes (``decoder_reason`` turns them into one line)."""

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


def decoder_reason(exc: BaseException) -> str:
    """A decoder exception's message as one short line: its first line, at most 120 characters;
    bytes messages (LibRaw's) decoded; the exception's name when it says nothing."""
    message = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], bytes) else None
    text = message.decode("utf-8", "replace") if message is not None else str(exc)
    text = text.strip()
    return (text.splitlines()[0] if text else exc.__class__.__name__)[:120]
