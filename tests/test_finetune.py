"""Issue 13: fine-tuning the shipped (or given) weights on a user's own brackets, guarded."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from selfhdr_cli.errors import UsageError
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from test_train import make_dataset
from selfhdr_cli.cli import app
from selfhdr_cli.nets.weights import default_weights, read_weights_metadata
from conftest import bracket_settings, color_config, gamma_response

runner = CliRunner()


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _tune(data: Path, out: Path, *extra: str):
    return runner.invoke(app, ["train", str(data), "--init", "default", "--preset", "tiny", "--threads", "1",
                               "-o", str(out), *extra])


def test_init_fine_tunes_the_shipped_weights_and_reuses_their_stage_1(tmp_path, monkeypatch):
    from selfhdr_cli.training import finetune, recipe

    monkeypatch.setattr(recipe, "run_stage", lambda *a, **k: pytest.fail("stage 1 was trained, not reused"))
    data = make_dataset(tmp_path / "data", n=3)
    out = tmp_path / "tuned.safetensors"
    r = _tune(data, out)
    assert r.exit_code == 0, r.output
    assert "reusing selfhdr-fastnet-structure.safetensors" in r.stderr
    info = read_weights_metadata(out)["info"]
    assert info["stage"] == "finetune" and info["init"] == default_weights()
    assert info["held_out"] == ["s2"] and info["config"]["steps"] == 6
    assert info["config"]["colour_merge"] == "snr"  # the init's colour merge, so merge uses the same Y_color
    r = runner.invoke(app, ["merge", *map(str, sorted((data / "s0").glob("*.tif"))), "-w", str(out),
                            "-o", str(tmp_path / "o.exr")])
    assert r.exit_code == 0, r.output
    with pytest.raises(UsageError, match="at least 2 brackets"):  # the guard must not score its own training data
        finetune.split_held_out(["a"])
    assert finetune.split_held_out([f"s{k}" for k in range(10)])[1] == ["s4", "s9"]


def test_the_guard_keeps_the_start_when_nothing_beats_it(tmp_path, monkeypatch):
    from selfhdr_cli.training import finetune

    real = finetune.guard_score

    def worse_after_the_start(scenes, config, response):
        score = real(scenes, config, response)
        calls = []

        def guarded(net):
            calls.append(1)
            return score(net) - (0.0 if len(calls) == 1 else 1.0)  # every checkpoint scores worse than step 0

        return guarded

    monkeypatch.setattr(finetune, "guard_score", worse_after_the_start)
    data = make_dataset(tmp_path / "data", n=2)
    out = tmp_path / "tuned.safetensors"
    r = _tune(data, out, "--lr", "1e-2")
    assert r.exit_code == 0, r.output
    assert "no checkpoint beat the starting model" in r.stderr and "kept the start" in r.stderr
    start, kept = load_file(default_weights()), load_file(str(out))
    assert start.keys() == kept.keys() and all(torch.equal(start[k], kept[k]) for k in start)
    assert read_weights_metadata(out)["info"]["kept_start"] is True


def test_fine_tuning_resumes_exactly_with_its_best_so_far(tmp_path, one_thread):
    from selfhdr_cli.merge.colour import ColorConfig
    from selfhdr_cli.nets.weights import load_weights
    from selfhdr_cli.training.finetune import guard_score, prepare_structure
    from selfhdr_cli.training.loop import Distributed, load_checkpoint, preset_config, run_stage
    from selfhdr_cli.training.recipe import load_scenes, workdir_for
    from selfhdr_cli.io.dataset import find_scenes

    data = make_dataset(tmp_path / "data", n=2)
    work = workdir_for(data, tmp_path / "work")
    start, meta = load_weights(default_weights())
    cfg = replace(preset_config("finetune"), steps=6, val_every=2, checkpoint_minutes=0.0, net_config=meta["config"],
                  batch=2, crop=64, lr=1e-2)
    prepare_structure(data, work, Path(default_weights()), cfg, color_config(), bracket_settings(), torch.device("cpu"), Distributed(),
                      False, False)
    mem = load_scenes(find_scenes(data), work, bracket_settings(), need_stru=True)
    guard = guard_score(mem, cfg, gamma_response())
    full = run_stage("reconstruct", mem, cfg, gamma_response(), tmp_path / "a.ckpt", validate=guard, init=start.state_dict(),
                     keep_best=True)

    class Stop(Exception):
        pass

    def stop_at_3(record):
        if record["step"] == 3:
            raise Stop

    with pytest.raises(Stop):
        run_stage("reconstruct", mem, cfg, gamma_response(), tmp_path / "b.ckpt", validate=guard, init=start.state_dict(),
                  keep_best=True, on_step=stop_at_3)
    assert "best_model" in load_checkpoint(tmp_path / "b.ckpt")
    resumed = run_stage("reconstruct", mem, cfg, gamma_response(), tmp_path / "b.ckpt", resume=True, validate=guard,
                        init=start.state_dict(), keep_best=True)
    assert (resumed.best_step, resumed.best_score) == (full.best_step, full.best_score)
    for (k, a), b in zip(full.net.state_dict().items(), resumed.net.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)


def test_fine_tuning_is_blind_to_ground_truth(tmp_path, monkeypatch, one_thread):
    """As test_train's: with and without a poisoned HDRImg.hdr in every scene, the same weights,
    and no ground-truth file is ever read."""
    from selfhdr_cli.io.hdrfile import write_hdr_image

    clean = make_dataset(tmp_path / "clean", n=2)
    poisoned = tmp_path / "poisoned"
    for scene in clean.iterdir():
        (poisoned / scene.name).mkdir(parents=True)
        for f in scene.iterdir():
            (poisoned / scene.name / f.name).write_bytes(f.read_bytes())
        write_hdr_image(poisoned / scene.name / "HDRImg.hdr",
                        np.random.default_rng(0).random((96, 128, 3), dtype=np.float32))
    opened: list[str] = []
    import selfhdr_cli.io.hdrfile as hdrfile

    real_read = hdrfile.read_hdr_image

    def spy(path, *args, **kwargs):
        opened.append(Path(path).name)
        return real_read(path, *args, **kwargs)

    for name, module in list(sys.modules.items()):
        if name.startswith("selfhdr_cli") and getattr(module, "read_hdr_image", None) is real_read:
            monkeypatch.setattr(module, "read_hdr_image", spy)
    from selfhdr_cli.training import finetune

    def later_is_better(scenes, config, response):  # so the tuned weights, not the start, are compared
        calls = []

        def guarded(net):
            calls.append(1)
            return float(len(calls))

        return guarded

    monkeypatch.setattr(finetune, "guard_score", later_is_better)
    a_out, b_out = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    assert _tune(clean, a_out, "--lr", "1e-2", "--seed", "3").exit_code == 0
    assert _tune(poisoned, b_out, "--lr", "1e-2", "--seed", "3").exit_code == 0
    assert opened and "HDRImg.hdr" not in opened
    a, b = load_file(str(a_out)), load_file(str(b_out))
    assert all(torch.equal(a[k], b[k]) for k in a)
    start = load_file(default_weights())
    assert any(not torch.equal(a[k], start[k]) for k in a), "fine-tuning moved nothing: the test would be empty"


def test_init_refusals(tmp_path):
    data = make_dataset(tmp_path / "data", n=2)
    r = runner.invoke(app, ["train", str(data), "--init", str(tmp_path / "nope.safetensors")])
    assert r.exit_code == 2 and "no such weights file" in r.stderr
    r = runner.invoke(app, ["train", str(data), "--init", "default", "--supervised"])
    assert r.exit_code == 2 and "--supervised" in r.stderr
    r = runner.invoke(app, ["train", str(data), "--init", "default", "--colour-merge", "triangle"])
    assert r.exit_code == 2 and "trained with" in r.stderr


def test_fine_tuning_under_torchrun(tmp_path):
    from test_train import torchrun_train

    data = make_dataset(tmp_path / "data", n=3)
    out = tmp_path / "ddp.safetensors"
    torchrun_train(data, out, "--init", "default")
    assert read_weights_metadata(out)["info"]["stage"] == "finetune"
