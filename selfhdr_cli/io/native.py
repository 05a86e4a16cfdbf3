"""What native decoders say, kept to one line: libpng, OpenCV and LibRaw write their own lines on
corrupt files, which would break the one-line error contract (silenced here), and their
exceptions carry messages of many shapes (``decoder_reason`` turns them into one line)."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def native_stderr_silenced(descriptors: tuple[int, ...] = (2,)) -> Iterator[None]:
    """Mute C-level output on ``descriptors`` (stderr; OpenEXR also prints on stdout, which would
    break ``--json``) for the duration."""
    saved = []
    try:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved = [(fd, os.dup(fd)) for fd in descriptors]
    except (OSError, ValueError, AttributeError):
        for _, copy in saved:
            os.close(copy)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd, _ in saved:
            os.dup2(devnull, fd)
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


def decoder_reason(exc: BaseException) -> str:
    """A decoder exception's message as one short line: its first line, at most 120 characters;
    bytes messages (LibRaw's) decoded; the exception's name when it says nothing."""
    message = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], bytes) else None
    text = message.decode("utf-8", "replace") if message is not None else str(exc)
    text = text.strip()
    line = text.splitlines()[0].strip() if text else exc.__class__.__name__
    if len(line) <= REASON_LENGTH:
        return line
    return line[:REASON_LENGTH].rsplit(" ", 1)[0].rstrip(" ,;:") + " …"  # cut at a word, and say so


REASON_LENGTH = 160  # characters of a library's message kept in a one-line error
