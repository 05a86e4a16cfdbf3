"""Real brackets from ../shared/data (research data, not shipped): skipped on a plain clone."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import SHARED
from selfhdr_cli.cli import app
from selfhdr_cli.io.hdrfile import read_hdr_image

GARDEN = SHARED / "data" / "brackets" / "sculpture_garden_gallo2009"
runner = CliRunner()


@pytest.mark.skipif(not GARDEN.is_dir(), reason="needs ../shared/data/brackets (not part of the project)")
def test_sculpture_garden(tmp_path):
    frames = [str(GARDEN / f"{k}.tif") for k in (1, 3, 5)]
    # every frame's EXIF says 1/20 s: refusing is right, guessing would be wrong
    r = runner.invoke(app, ["merge", *frames, "-o", str(tmp_path / "x.exr")])
    assert r.exit_code == 2 and "same exposure" in r.stderr
    out = tmp_path / "out.exr"
    r = runner.invoke(app, ["merge", "-m", "color", *frames, "--ev", "-2,0,2", "-o", str(out), "--preview",
                            str(tmp_path / "out.png"), "--json"])
    assert r.exit_code == 0, r.output
    hdr = read_hdr_image(out)
    assert hdr.shape == (754, 1024, 3) and np.isfinite(hdr).all() and hdr.min() >= 0
    assert json.loads(r.stdout)["reference"] == 1
