"""The ``selfhdr`` command: parse arguments, call the core, render results.

stdout carries only machine-readable results (``--json``); progress and messages go
to stderr. Bad input is one line on stderr and a non-zero exit (2 for usage errors).
One module per command group registers its commands on the shared Typer ``app``.
"""

from __future__ import annotations

import sys

from selfhdr_cli.cli import datasets, merging, training  # noqa: F401  (they register the commands)
from selfhdr_cli.cli.app import app, err

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    from selfhdr_cli.merge.batch import raise_on_sigterm

    raise_on_sigterm()  # SIGTERM unwinds like Ctrl-C: temporary files are removed
    try:
        app()
    except KeyboardInterrupt:
        err.print("selfhdr: interrupted", highlight=False)
        sys.exit(130)
    except OSError as exc:  # the system refused (read-only, disk full, permissions, loops): one line
        err.print(f"[bold red]selfhdr: error:[/] {os_error_line(exc)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except MemoryError:
        err.print("[bold red]selfhdr: error:[/] out of memory: use smaller images, --tile, or fewer --jobs",
                  highlight=False, soft_wrap=True)
        sys.exit(1)


def os_error_line(exc: OSError) -> str:
    """``path: reason`` of an OSError, as one line (``cannot write out.exr: No space left on device``)."""
    reason = exc.strerror or exc.__class__.__name__
    names = [n for n in (exc.filename, exc.filename2) if n]
    return f"{names[0]}: {reason}" if names else str(exc) or reason
