"""Errors the tool reports to users as one line, never as a traceback."""

from __future__ import annotations

from pathlib import Path


class SelfHDRError(Exception):
    """A problem with the user's input; ``str()`` is the one-line message.

    ``path`` names the file or folder at fault, when there is one.
    ``exit_code`` is what the CLI exits with: 2 for usage errors, 1 otherwise.
    """

    exit_code = 1

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.problem = message
        text = one_line(message)
        super().__init__(f"{shown_path(self.path)}: {text}" if self.path is not None else text)


def shown_path(path: str | Path) -> str:
    """A path for a one-line message: control characters (a newline in a file name) escaped, so
    the message stays one line and names the file unambiguously."""
    text = str(path)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return repr(text)
    return text


def one_line(message: str) -> str:
    """A message folded onto one line (libraries' reasons sometimes carry newlines)."""
    return " ".join(message.split()) if "\n" in message or "\r" in message else message


class UsageError(SelfHDRError):
    """The command was asked for something inconsistent or impossible (exit 2)."""

    exit_code = 2


class InputFileError(SelfHDRError):
    """A file exists but cannot be used: unreadable, corrupt, wrong size (exit 1)."""

    exit_code = 1
