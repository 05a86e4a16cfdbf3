"""Atomic file output: write to a temporary file beside the target, then rename.

A crash or Ctrl-C leaves either the old state or the complete new file, never a
partial one.
"""

from __future__ import annotations

import glob
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from selfhdr_cli.errors import SelfHDRError, UsageError


def check_output_path(path: str | Path, force: bool = False, suffixes: tuple[str, ...] | None = None) -> Path:
    """Validate an output path before any heavy work: known type, folder exists and takes
    files, no clobbering."""
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
    if path.is_symlink() and not path.exists() and not force:  # found only at the end otherwise
        raise UsageError(f"output is a symbolic link to a missing file ({os.readlink(path)}): remove it, or use "
                         "--force to replace the link", path)
    check_writable_folder(parent)
    return path


def check_writable_folder(folder: str | Path) -> None:
    """Create and remove a file in ``folder``: a read-only folder or mount, or a missing
    permission, is found before the work rather than after it (SelfHDRError naming the folder)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".selfhdr-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SelfHDRError(f"cannot write into this folder ({exc.strerror or exc})", folder) from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


PART_MARK = ".part"  # temporary outputs: .<stem>.<pid>.<random>.part<suffix> beside the target


@contextmanager
def atomic_path(path: str | Path, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it becomes ``path``.

    With ``force`` it replaces whatever is there; without, it is linked into place, which fails
    if the name exists by then (two runs writing one new output: one wins, the other is told),
    so creating an output is exclusive. The temporary name keeps the target's suffix, for
    writers that choose the format by it, and carries the writer's process id: temporary files
    of this target left by a process that no longer runs (SIGKILL, power loss) are removed
    first. An OSError while writing (disk full, read-only) becomes a SelfHDRError naming ``path``.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    remove_stale_parts(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.{os.getpid()}.", suffix=f"{PART_MARK}{path.suffix}",
                                   dir=folder)
    except OSError as exc:
        raise SelfHDRError(f"cannot write ({exc.strerror or exc})", path) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp (and some writers) make 0600; outputs get the usual mode
            if force:
                os.replace(tmp_path, path)
            else:
                os.link(tmp_path, path)
        except FileExistsError:
            raise UsageError("output already exists (another run wrote it meanwhile; use --force to overwrite)",
                             path) from None
        except OSError as exc:
            raise SelfHDRError(f"cannot write ({exc.strerror or exc})", path) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def remove_stale_parts(path: str | Path) -> list[Path]:
    """Remove the temporary files of ``path`` whose writing process is gone; returns them."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    removed = []
    try:
        candidates = list(folder.glob(f".{glob.escape(path.stem)}.*{PART_MARK}{glob.escape(path.suffix)}"))
    except OSError:
        return removed
    for part in candidates:
        fields = part.name[len(path.stem) + 2:].split(".")
        if not fields or not fields[0].isdigit() or _alive(int(fields[0])):
            continue
        try:
            part.unlink()
            removed.append(part)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def write_bytes_atomic(path: str | Path, data: bytes, force: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (``force``: as ``atomic_path``)."""
    with atomic_path(path, force) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
