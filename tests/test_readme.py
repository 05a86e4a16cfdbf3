"""The README's library example runs as written, on frames made here."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from conftest import dynamic_bracket, write_bracket

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_library_example_runs_as_written(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## As a library"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    frames, _, _ = dynamic_bracket(64, 96, shift=3, seed=2)
    write_bracket(tmp_path, frames, exposure_txt=False, names=("1.tif", "3.tif", "5.tif"))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    from selfhdr_cli import read_hdr_image

    hdr = read_hdr_image(tmp_path / "out.exr")
    assert hdr.shape == (64, 96, 3) and np.isfinite(hdr).all() and hdr.max() > 0
