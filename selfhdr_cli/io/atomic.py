"""Atomic file output: write to a temporary file beside the target, then rename.

A crash or Ctrl-C leaves either the old state or the complete new file, never a
partial one.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from selfhdr_cli.errors import UsageError


def check_output_path(path: str | Path, force: bool = False, suffixes: tuple[str, ...] | None = None) -> Path:
    """Validate an output path before any heavy work: folder exists, no clobbering, known type."""
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise UsageError(f"unsupported output type {path.suffix or '(none)'}; use {', '.join(suffixes)}", path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError("output folder does not exist", parent)
    if path.is_dir():
        raise UsageError("output path is a folder", path)
    if path.exists() and not force:
        raise UsageError("output already exists (use --force to overwrite)", path)
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    The temporary name keeps the target's suffix, for writers that choose the format by it.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent or ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp (and some writers) make 0600; outputs get the usual mode
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
