"""Fine-tuning the shipped (or given) weights on a user's own brackets, guarded."""

from __future__ import annotations

import contextlib
import os
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
# weights trained with SelfHDR's two stages, their stage 1 beside them (the shipped weights before pseudo-pairs):
# what the stage-2 fine-tuning path starts from
TWO_STAGE = Path(__file__).resolve().parent / "data" / "two_stage" / "selfhdr-fastnet.safetensors"


_GT_OPENS: list | None = None  # while a test watches: every file opened under the name HDRImg.hdr


def _audit(event, args):
    if _GT_OPENS is not None and event == "open" and args and isinstance(args[0], (str, bytes, Path)):
        if Path(os.fsdecode(args[0])).name == "HDRImg.hdr":
            _GT_OPENS.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # an audit hook cannot be removed: it records only inside _ground_truth_opens


@contextlib.contextmanager
def _ground_truth_opens():
    """Every Python-level open of a file named HDRImg.hdr while the block runs (any reader)."""
    global _GT_OPENS
    _GT_OPENS = []
    try:
        yield _GT_OPENS
    finally:
        _GT_OPENS = None


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _tune(data: Path, out: Path, *extra: str):
    return runner.invoke(app, ["train", str(data), "--init", str(TWO_STAGE), "--preset", "tiny", "--threads", "1",
                               "-o", str(out), *extra])


def test_init_refuses_val_in_one_line(tmp_path):
    data = make_dataset(tmp_path / "data", n=2)
    for flags, named in ((["--val", str(data)], "--val"), (["--val-limit", "1"], "--val-limit")):
        r = runner.invoke(app, ["train", str(data), "--init", str(TWO_STAGE), "--preset", "tiny", *flags,
                                "-o", str(tmp_path / "x.safetensors")])
        assert r.exit_code == 2 and named in r.stderr, (flags, r.output)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "x.safetensors").exists()


def test_init_honours_preset_steps_and_training_flags(tmp_path, monkeypatch):
    """What train --init hands to fine_tune: the finetune preset unless one is given, the given one's
    steps (unless --steps), and --val-every/--sp-weight/--masked-frames/--vgg-weights."""
    from selfhdr_cli.training import finetune, losses
    from selfhdr_cli.training.loop import PRESETS, TrainConfig

    data = make_dataset(tmp_path / "data", n=2)
    seen: list = []

    def fake_fine_tune(dataset, work, init, config, *args, **kwargs):
        seen.append(config)
        return finetune.FineTuneResult(False, 1.0, 1.0, 0, ["s1"], ["s0"], 0.0)

    monkeypatch.setattr(finetune, "fine_tune", fake_fine_tune)
    monkeypatch.setattr(losses, "load_vgg19_state", lambda path: {})  # the flag, not a 550 MB file
    vgg = tmp_path / "vgg19.pth"
    vgg.write_bytes(b"stand-in")

    def run(*flags):
        r = runner.invoke(app, ["train", str(data), "--init", str(TWO_STAGE), "--threads", "1",
                                "-o", str(tmp_path / "x.safetensors"), *flags])
        assert r.exit_code == 0, (flags, r.output)
        return seen[-1]

    default = run()
    assert (default.steps, default.lr, default.val_every) == (PRESETS["finetune"]["steps"], PRESETS["finetune"]["lr"],
                                                             PRESETS["finetune"]["val_every"])
    cpu = run("--preset", "cpu")
    assert (cpu.steps, cpu.lr, cpu.val_every) == (TrainConfig.steps, TrainConfig.lr, TrainConfig.val_every)
    assert run("--preset", "cpu", "--steps", "7").steps == 7
    flagged = run("--preset", "tiny", "--val-every", "2", "--sp-weight", "2.5", "--masked-frames", "0.25",
                  "--vgg-weights", str(vgg))
    assert (flagged.val_every, flagged.sp_weight, flagged.masked_frames, flagged.vgg_weights) == (2, 2.5, 0.25, str(vgg))
    assert flagged.steps == PRESETS["tiny"]["steps"]


def test_init_fine_tunes_two_stage_weights_and_reuses_their_stage_1(tmp_path, monkeypatch):
    from selfhdr_cli.training import finetune, recipe

    monkeypatch.setattr(recipe, "run_stage", lambda *a, **k: pytest.fail("stage 1 was trained, not reused"))
    data = make_dataset(tmp_path / "data", n=3)
    out = tmp_path / "tuned.safetensors"
    r = _tune(data, out)
    assert r.exit_code == 0, r.output
    assert "reusing selfhdr-fastnet-structure.safetensors" in r.stderr
    info = read_weights_metadata(out)["info"]
    assert info["stage"] == "finetune" and info["init"] == str(TWO_STAGE)
    assert info["held_out"] == ["s2"] and info["config"]["steps"] == 6
    assert info["config"]["color_merge"] == "snr"  # the init's colour merge, so merge uses the same Y_color
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
    start, kept = load_file(str(TWO_STAGE)), load_file(str(out))
    assert start.keys() == kept.keys() and all(torch.equal(start[k], kept[k]) for k in start)
    assert read_weights_metadata(out)["info"]["kept_start"] is True


def test_fine_tuning_resumes_exactly_with_its_best_so_far(tmp_path, one_thread):
    from selfhdr_cli.merge.color import ColorConfig
    from selfhdr_cli.nets.weights import load_weights
    from selfhdr_cli.training.finetune import guard_score, prepare_structure
    from selfhdr_cli.training.loop import Distributed, load_checkpoint, preset_config, run_stage
    from selfhdr_cli.training.recipe import load_scenes, workdir_for
    from selfhdr_cli.io.dataset import find_scenes

    data = make_dataset(tmp_path / "data", n=2)
    work = workdir_for(data, tmp_path / "work")
    start, meta = load_weights(TWO_STAGE)
    cfg = replace(preset_config("finetune"), steps=6, val_every=2, checkpoint_minutes=0.0, net_config=meta["config"],
                  batch=2, crop=64, lr=1e-2)
    prepare_structure(data, work, TWO_STAGE, cfg, color_config(), bracket_settings(), torch.device("cpu"), Distributed(),
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

    real_guard = finetune.guard_score
    guard_inputs: list[list[str]] = []

    def later_is_better(scenes, config, response):
        """The real guard (it builds its crops from the held-out brackets and scores every network),
        with a constant bonus for every checkpoint after the start, so the tuned weights, not the
        start, are written and compared; the real score still picks among the checkpoints."""
        guard_inputs.append([s.name for s in scenes])
        score = real_guard(scenes, config, response)
        calls = []

        def guarded(net):
            calls.append(1)
            return score(net) + (0.0 if len(calls) == 1 else 1.0)

        return guarded

    monkeypatch.setattr(finetune, "guard_score", later_is_better)
    a_out, b_out = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    with _ground_truth_opens() as raw_opens:
        r = _tune(clean, a_out, "--seed", "3")
        assert r.exit_code == 0, r.output
        r = _tune(poisoned, b_out, "--seed", "3")
        assert r.exit_code == 0, r.output
    assert guard_inputs == [["s1"], ["s1"]], "the guard did not run on the held-out bracket"
    assert opened and "HDRImg.hdr" not in opened
    assert raw_opens == [], raw_opens
    a, b = load_file(str(a_out)), load_file(str(b_out))
    assert all(torch.equal(a[k], b[k]) for k in a)
    history = [read_weights_metadata(p)["info"]["history"] for p in (a_out, b_out)]
    assert history[0] == history[1], "the guard scored the same networks differently with ground truth beside them"
    start = load_file(str(TWO_STAGE))
    assert any(not torch.equal(a[k], start[k]) for k in a), "fine-tuning moved nothing: the test would be empty"


def test_init_refusals(tmp_path):
    data = make_dataset(tmp_path / "data", n=2)
    r = runner.invoke(app, ["train", str(data), "--init", str(tmp_path / "nope.safetensors")])
    assert r.exit_code == 2 and "no such weights file" in r.stderr
    r = runner.invoke(app, ["train", str(data), "--init", "default", "--supervised"])
    assert r.exit_code == 2 and "--supervised" in r.stderr
    r = runner.invoke(app, ["train", str(data), "--init", "default", "--color-merge", "triangle"])
    assert r.exit_code == 2 and "trained with" in r.stderr


def test_fine_tuning_under_torchrun(tmp_path):
    from test_train import torchrun_train

    data = make_dataset(tmp_path / "data", n=3)
    out = tmp_path / "ddp.safetensors"
    torchrun_train(data, out, "--init", "default")
    assert read_weights_metadata(out)["info"]["stage"] == "finetune"


@pytest.mark.parametrize("gain, replaced", [(0.002, False), (0.02, True)])
def test_the_guard_replaces_the_start_only_beyond_its_margin(tmp_path, monkeypatch, gain, replaced):
    """GUARD_MARGIN (0.5 %): checkpoints whose guard loss is lower than the start's by 0.2 % are
    noise, and the start is written; by 2 %, the best checkpoint is."""
    from selfhdr_cli.training import finetune

    real = finetune.guard_score

    def later_lower_by_gain(scenes, config, response):
        score = real(scenes, config, response)
        first: list[float] = []

        def guarded(net):
            s = score(net)  # the real guard runs on every network
            if not first:
                first.append(s)
                return s
            return first[0] * (1 - gain)  # the score is −loss: every checkpoint's loss is lower by ``gain``

        return guarded

    monkeypatch.setattr(finetune, "guard_score", later_lower_by_gain)
    data = make_dataset(tmp_path / "data", n=2)
    out = tmp_path / "tuned.safetensors"
    r = _tune(data, out)
    assert r.exit_code == 0, r.output
    info = read_weights_metadata(out)["info"]
    start, written = load_file(str(TWO_STAGE)), load_file(str(out))
    same = all(torch.equal(start[k], written[k]) for k in start)
    if replaced:
        assert info["kept_start"] is False and not same and "kept the start" not in r.stderr, r.stderr
    else:
        assert info["kept_start"] is True and same and "kept the start" in r.stderr, r.stderr




def test_init_flags_reach_the_written_weights(tmp_path):
    data = make_dataset(tmp_path / "data", n=2)
    out = tmp_path / "tuned.safetensors"
    r = _tune(data, out, "--val-every", "2", "--masked-frames", "0.5", "--sp-weight", "3")
    assert r.exit_code == 0, r.output
    info = read_weights_metadata(out)["info"]
    config = info["config"]
    assert (config["val_every"], config["masked_frames"], config["sp_weight"]) == (2, 0.5, 3.0), config
    assert [h["step"] for h in info["history"] if "guard_score" in h] == [0, 2, 4, 6]


def test_init_with_pseudo_pairs_fine_tunes_on_them_blind_and_without_stage_1(tmp_path, monkeypatch):
    from selfhdr_cli.training import finetune

    monkeypatch.setattr(finetune, "prepare_structure", lambda *a, **k: pytest.fail("pseudo-pairs need no Y_stru"))
    data = make_dataset(tmp_path / "data", n=3)
    out = tmp_path / "tuned.safetensors"
    with _ground_truth_opens() as opened:
        r = _tune(data, out, "--pseudo-pairs")
    assert r.exit_code == 0, r.output
    assert opened == [], f"pseudo-pair fine-tuning read ground truth: {opened}"
    assert "fine-tuning on pseudo-pairs" in " ".join(r.stderr.split())
    info = read_weights_metadata(out)["info"]
    assert (info["stage"], info["objective"], info["held_out"]) == ("finetune", "pseudo", ["s2"])
    assert info["pseudo_pairs"]["clip_share"] == [0.1, 0.4]
    scores = [h["guard_score"] for h in info["history"]]
    assert len(scores) >= 2 and all(np.isfinite(scores)) and all(s < 0 for s in scores)
    # weights fine-tuned on pseudo-pairs go on with them, unasked
    again = tmp_path / "again.safetensors"
    r = runner.invoke(app, ["train", str(data), "--init", str(out), "--preset", "tiny", "--threads", "1",
                            "-o", str(again), "--force", "--measured-noise"])
    assert r.exit_code == 0, r.output
    assert "the --init weights were trained on them" in " ".join(r.stderr.split())
    info = read_weights_metadata(again)["info"]
    assert info["objective"] == "pseudo" and info["pseudo_pairs"]["measured_noise"] is True
    r = runner.invoke(app, ["train", str(data), "--init", str(TWO_STAGE), "--measured-noise", "--preset", "tiny"])
    assert r.exit_code == 2 and "--pseudo-pairs" in r.stderr  # two-stage weights fine-tune with stage 2's losses


def test_trained_objective_reads_what_the_weights_were_trained_on():
    from selfhdr_cli.training.finetune import trained_objective

    assert trained_objective({"stage": "pseudo"}) == "pseudo"
    assert trained_objective({"stage": "reconstruct"}) == "stage2"
    assert trained_objective({"stage": "finetune", "objective": "pseudo"}) == "pseudo"
    assert trained_objective({"stage": "finetune"}) == "stage2"  # fine-tuned before pseudo-pairs existed
    assert trained_objective({"stage": "supervised"}) == "stage2"
