"""evaluate: scoring files against ground truth, and running methods over a dataset."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from conftest import dynamic_bracket, write_bracket
from selfhdr_cli.cli import app
from selfhdr_cli.io.hdrfile import read_hdr_image, write_hdr_image

runner = CliRunner()


@pytest.fixture
def labelled(tmp_path):
    root = tmp_path / "gt"
    for i in range(2):
        frames, gt, _ = dynamic_bracket(96, 128, shift=10, seed=i)
        folder = root / f"s{i}"
        write_bracket(folder, frames)
        write_hdr_image(folder / "HDRImg.hdr", gt)
    return root


def test_known_error_gives_known_psnr(tmp_path, labelled):
    preds = tmp_path / "pred"
    preds.mkdir()
    for scene in labelled.iterdir():
        gt = read_hdr_image(scene / "HDRImg.hdr")
        write_hdr_image(preds / f"{scene.name}.exr", gt + 0.01)  # float32: exact
    r = runner.invoke(app, ["evaluate", str(preds), str(labelled), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [s["scene"] for s in out["scenes"]] == ["s0", "s1"]
    for s in out["scenes"]:
        assert s["psnr_l"] == pytest.approx(40.0, abs=1e-3)
        assert 0.5 < s["ssim_l"] < 1.0  # a constant offset hurts SSIM only in dark areas
    assert out["mean"]["all"]["psnr_l"] == pytest.approx(40.0, abs=1e-3)
    r = runner.invoke(app, ["evaluate", str(preds), str(labelled), "--csv"])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 2 and float(rows[0]["psnr_l"]) == pytest.approx(40.0, abs=1e-3)


def test_missing_prediction_is_a_usage_error(tmp_path, labelled):
    (tmp_path / "pred").mkdir()
    r = runner.invoke(app, ["evaluate", str(tmp_path / "pred"), str(labelled)])
    assert r.exit_code == 2 and "no prediction for scene s0" in r.stderr


def test_method_over_dataset_color_beats_ref_and_debevec(labelled):
    scores = {}
    for method in ("ref", "debevec", "color"):
        r = runner.invoke(app, ["evaluate", str(labelled), "--method", method, "--json"])
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert all(s["seconds"] is not None for s in out["scenes"])
        scores[method] = out["mean"]["all"]["psnr_mu"]
    assert scores["color"] > scores["ref"] and scores["color"] > scores["debevec"]


def test_argument_errors(tmp_path, labelled):
    r = runner.invoke(app, ["evaluate", str(labelled)])
    assert r.exit_code == 2 and "GT_DIR" in r.stderr
    r = runner.invoke(app, ["evaluate", str(labelled), str(labelled), "--method", "color"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["evaluate", str(tmp_path), "--method", "color"])
    assert r.exit_code == 2 and "no scenes" in r.stderr


def test_a_prediction_with_nan_is_refused_not_scored(tmp_path, labelled):
    import numpy as np
    import OpenEXR

    preds = tmp_path / "pred"
    preds.mkdir()
    for scene in labelled.iterdir():
        gt = read_hdr_image(scene / "HDRImg.hdr")
        if scene.name == "s1":
            gt[10:12, 10:12] = np.nan  # written past our own writer, which would clean it
            OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                         {"RGB": np.ascontiguousarray(gt)}).write(str(preds / "s1.exr"))
        else:
            write_hdr_image(preds / f"{scene.name}.exr", gt)
    r = runner.invoke(app, ["evaluate", str(preds), str(labelled)])
    assert r.exit_code == 1 and "s1.exr" in r.stderr and "12 non-finite" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
