"""The ``selfhdr`` command: parse arguments, call the core, render results.

stdout carries only machine-readable results (``--json``); progress and messages go
to stderr. Bad input is one line on stderr and a non-zero exit (2 for usage errors).
One module per command group registers its commands on the shared Typer ``app``.
"""

from __future__ import annotations

import os
import sys

# OpenCV's worker threads spin (sched_yield) between jobs: on 2 cores beside the merge's own threads
# that was a third of a 2 MP merge's CPU time, as system time. Read when cv2 loads: set before it
# is imported, for the command only (a library user's process is left as it is); a user's own value stands.
for _name in ("OPENCV_THREAD_POOL_ACTIVE_WAIT_WORKER", "OPENCV_THREAD_POOL_ACTIVE_WAIT_MAIN"):
    os.environ.setdefault(_name, "0")

# they register the commands; merging first, so that merge leads the command list
from selfhdr_cli.cli import merging, datasets, training  # noqa: F401, I001
from selfhdr_cli.cli.app import app, err
from selfhdr_cli.errors import SelfHDRError

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    from selfhdr_cli.merge.batch import raise_on_sigterm

    raise_on_sigterm()  # SIGTERM unwinds like Ctrl-C: temporary files are removed
    try:
        code = app(standalone_mode=False)  # Typer's own errors come back here, to be said in one line
        if code == 130:  # Typer turns Ctrl-C into exit code 130 after the command has unwound
            err.print("selfhdr: interrupted", highlight=False)
        sys.exit(code if isinstance(code, int) else 0)
    except KeyboardInterrupt:
        err.print("selfhdr: interrupted", highlight=False)
        sys.exit(130)
    except OSError as exc:  # the system refused (read-only, disk full, permissions, loops): one line
        err.print(f"[bold red]selfhdr: error:[/] {os_error_line(exc)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except SelfHDRError as exc:  # one the command did not catch itself: still one line
        from rich.markup import escape

        err.print(f"[bold red]selfhdr: error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except MemoryError:
        err.print("[bold red]selfhdr: error:[/] out of memory: use smaller images, --tile, or fewer --jobs",
                  highlight=False, soft_wrap=True)
        sys.exit(1)
    except Exception as exc:
        if not _is_click_error(exc):
            raise
        _click_error(exc)


def _click_error(exc) -> None:
    if type(exc).__name__ == "NoArgsIsHelpError":  # plain `selfhdr`: the help, as usual
        exc.show()
        sys.exit(int(exc.exit_code))
    if type(exc).__name__ == "Abort":
        err.print("selfhdr: interrupted", highlight=False)
        sys.exit(130)
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "selfhdr"
    err.print(f"[bold red]selfhdr: error:[/] {exc.format_message()} (see '{command} --help')", highlight=False,
              soft_wrap=True)
    sys.exit(int(getattr(exc, "exit_code", 2)))


def _is_click_error(exc: BaseException) -> bool:
    """A usage error of the Click layer under Typer (bad option, missing argument, bad choice).
    Typer vendors Click in recent versions, so the class is recognised by its interface."""
    return all(hasattr(exc, name) for name in ("exit_code", "format_message", "show"))


def os_error_line(exc: OSError) -> str:
    """``path: reason`` of an OSError, as one line (``cannot write out.exr: No space left on device``)."""
    reason = exc.strerror or exc.__class__.__name__
    names = [n for n in (exc.filename, exc.filename2) if n]
    return f"{names[0]}: {reason}" if names else str(exc) or reason
