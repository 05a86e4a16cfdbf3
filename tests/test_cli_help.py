"""The help a new user reads: --version, the method in words (no specification symbols), help
short enough to read at 80 columns."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from selfhdr_cli.cli import app

runner = CliRunner()
WIDTH = 80
# the specification's symbols and section marks, which mean nothing to a user of the command
SPEC_SYMBOLS = re.compile(r"SPEC|§|Y_color|Y_stru|\bL_sp\b|\bL_se\b|\bf_s\b|\bL_color\b|\bL_stru\b")
COMMANDS = sorted(typer.main.get_command(app).commands)


def _help(*args: str) -> str:
    r = runner.invoke(app, [*args, "--help"], env={"COLUMNS": str(WIDTH), "TERMINAL_WIDTH": str(WIDTH)},
                      terminal_width=WIDTH)
    assert r.exit_code == 0, r.output
    return r.output


def _words(text: str) -> str:
    """The help as one line of words: the panels' borders out, wrapped lines joined."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_version_through_the_app():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("selfhdr ") and r.output.strip() != "selfhdr"


def test_version_through_main(monkeypatch, capsys):
    """The console script (main() runs Typer with standalone_mode=False) exits 0 on --version too."""
    from importlib.metadata import version

    import selfhdr_cli.cli as cli

    monkeypatch.setattr("sys.argv", ["selfhdr", "--version"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"selfhdr {version('selfhdr')}\n"


def test_no_arguments_still_print_the_help():
    r = runner.invoke(app, [])
    assert "Usage" in r.output and "merge" in r.output


def test_every_command_is_listed_and_has_help():
    assert {"merge", "info", "tonemap", "calibrate", "build-color", "train-structure", "train", "synth",
            "evaluate"} <= set(COMMANDS)
    listing = _help()
    assert all(name in listing for name in COMMANDS)


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_speaks_in_words_not_specification_symbols(command):
    text = _help(*([command] if command else []))
    assert not SPEC_SYMBOLS.findall(text), (command, SPEC_SYMBOLS.findall(text))
    assert not re.search(r"\bissue \d+|#\d+\b", text)  # no tracker numbers
    assert "%%" not in text
    assert "…" not in text, "a word cut at the column's edge"


def test_merge_help_fits_in_120_lines_at_80_columns():
    text = _help("merge")
    assert len(text.splitlines()) <= 120, len(text.splitlines())
    for panel in ("Exposures", "Method", "Batches", "RAW frames"):
        assert panel in text
    assert "selfhdr merge img_*.tif" in text  # the examples stay


def test_method_color_is_described_as_the_snr_merge():
    text = _words(_help("merge"))
    assert "signal-to-noise" in text and "fixed-weight" not in text


def test_crf_accepts_a_calibrated_response_and_shows_its_default():
    for command in ("merge", "train", "build-color", "evaluate"):
        text = _help(command)
        assert ".json" in text and "calibrate" in text
        # merging fits each 8-bit bracket's own response by default; training needs one for all brackets
        assert ("[default: auto]" if command in ("merge", "evaluate") else "[default: gamma:2.2]") in text


def test_train_help():
    text = _words(_help("train"))
    assert "%%" not in text and "20 %" in text
    assert "about an hour" not in text and "24 min" in text
    assert "finetune with --init" in text
