"""Training: both stages end to end (tiny), resume exactness, blindness to ground truth, DDP, no silent reuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import bracket_settings, color_config, dynamic_bracket, gamma_response, write_bracket
from selfhdr_cli.cli import app
from selfhdr_cli.errors import UsageError
from selfhdr_cli.merge.color import ColorConfig
from selfhdr_cli.nets.weights import load_weights
from selfhdr_cli.training.loop import load_checkpoint, preset_config, run_stage
from selfhdr_cli.training.recipe import ensure_color, load_scenes, workdir_for

runner = CliRunner()


def make_dataset(root: Path, n: int = 3, labelled: bool = False) -> Path:
    from selfhdr_cli.io.hdrfile import write_hdr_image

    for i in range(n):
        frames, gt, _ = dynamic_bracket(96, 128, shift=6 + 2 * i, seed=10 + i)
        write_bracket(root / f"s{i}", frames)
        if labelled:
            write_hdr_image(root / f"s{i}" / "HDRImg.hdr", gt)
    return root


def test_train_end_to_end_tiny(tmp_path):
    data = make_dataset(tmp_path / "data")
    val = make_dataset(tmp_path / "val", n=2, labelled=True)
    out = tmp_path / "model.safetensors"
    r = runner.invoke(app, ["train", str(data), "--preset", "tiny", "--val", str(val), "-o", str(out)])
    assert r.exit_code == 0, r.output
    work = tmp_path / "data.selfhdr"
    assert (work / "structure.safetensors").is_file()
    assert all((work / f"s{i}" / "y_stru.exr").is_file() for i in range(3))
    net, meta = load_weights(out)
    assert meta["network"] == "fastnet" and meta["info"]["stage"] == "reconstruct"
    assert meta["info"]["config"]["steps"] == 6 and "val_color_psnr_mu" in meta["info"]
    assert not (work / "reconstruct.ckpt").exists()  # a finished run leaves no checkpoint
    # the trained weights merge a bracket through the CLI
    frames, gt, _ = dynamic_bracket(96, 128, shift=8, seed=99)
    paths = write_bracket(tmp_path / "b", frames)
    r = runner.invoke(app, ["merge", *map(str, paths), "--method", "net", "--weights", str(out), "-o",
                            str(tmp_path / "o.exr"), "--json"])
    assert r.exit_code == 0, r.output
    # a second train with outputs present refuses without --force
    r = runner.invoke(app, ["train", str(data), "--preset", "tiny", "-o", str(out)])
    assert r.exit_code == 2 and "already exists" in r.stderr


def test_recipes_paper_and_robust(tmp_path):
    """--recipe paper is SPEC §2–4 as written (triangle Y_color, no global motion, unguided FastNet);
    the default (robust) records its SNR colour merge and homography and ships a guided FastNet, which
    the merge feeds with Y_color from every frame."""
    data = make_dataset(tmp_path / "data")
    for recipe, merge, motion, guided in (("paper", "triangle", "none", False), ("robust", "snr", "rigid", True)):
        out = tmp_path / f"{recipe}.safetensors"
        r = runner.invoke(app, ["train", str(data), "--preset", "tiny", "--recipe", recipe,
                                "--work", str(tmp_path / f"work_{recipe}"), "-o", str(out)])
        assert r.exit_code == 0, r.output
        net, meta = load_weights(out)
        config = meta["info"]["config"]
        assert (config["recipe"], config["color_merge"], config["rigid_motion"]) == (recipe, merge, motion)
        assert getattr(net, "needs_guide", False) is guided
        cache = json.loads((tmp_path / f"work_{recipe}" / "s0" / "meta.json").read_text())
        assert cache["merge"] == merge and cache["align"]["rigid_motion"] == motion
        frames = sorted(map(str, (data / "s0").glob("*.tif")))
        r = runner.invoke(app, ["merge", *frames, "--weights", str(out), "-o", str(tmp_path / f"{recipe}.exr")])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", str(data), "--preset", "tiny", "--recipe", "nosuch", "-o", str(tmp_path / "x.safetensors")])
    assert r.exit_code == 2 and "recipe" in r.stderr


def test_resume_continues_exactly(tmp_path):
    data = make_dataset(tmp_path / "data")
    work = workdir_for(data, tmp_path / "work")
    scenes = ensure_color(data, work, color_config(), bracket_settings())
    mem = load_scenes(scenes, work, bracket_settings(), need_stru=False)
    cfg = replace(preset_config("tiny"), steps=6, checkpoint_minutes=0.0)
    full = run_stage("structure", mem, cfg, gamma_response(), tmp_path / "a.ckpt")

    class Stop(Exception):
        pass

    def stop_at_3(record):
        if record["step"] == 3:
            raise Stop

    with pytest.raises(Stop):
        run_stage("structure", mem, cfg, gamma_response(), tmp_path / "b.ckpt", on_step=stop_at_3)
    state = load_checkpoint(tmp_path / "b.ckpt")  # weights_only load
    assert state["step"] == 3 and state["config"]["steps"] == 6
    with pytest.raises(UsageError, match="other settings.*lr"):  # a resume never silently changes the recipe
        run_stage("structure", mem, replace(cfg, lr=1e-3), gamma_response(), tmp_path / "b.ckpt", resume=True)
    resumed = run_stage("structure", mem, cfg, gamma_response(), tmp_path / "b.ckpt", resume=True)
    for (k, a), b in zip(full.net.state_dict().items(), resumed.net.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)


def test_unfinished_checkpoint_needs_resume_or_force(tmp_path):
    data = make_dataset(tmp_path / "data", n=2)
    work = tmp_path / "data.selfhdr"
    work.mkdir()
    (work / "structure.ckpt").write_bytes(b"x")
    r = runner.invoke(app, ["train-structure", str(data), "--preset", "tiny"])
    assert r.exit_code == 2 and "--resume" in r.stderr


@pytest.fixture
def one_thread():
    """Bit-identical training runs need a single intra-op thread; restore the count afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _train_tiny(data: Path, out: Path, *extra: str) -> dict[str, torch.Tensor]:
    r = runner.invoke(app, ["train", str(data), "--preset", "tiny", "--threads", "1", "--seed", "3", "-o", str(out),
                            *extra])
    assert r.exit_code == 0, r.output
    from safetensors.torch import load_file

    return load_file(str(out))


@pytest.mark.parametrize("extra", [(), ("--pseudo-pairs",)], ids=["two-stages", "pseudo-pairs"])
def test_training_is_blind_to_ground_truth(tmp_path, monkeypatch, one_thread, extra):
    """The same brackets trained twice — once with a poisoned, perfectly readable HDRImg.hdr in every
    scene, once with none — give identical weights; and no HDR reader ever sees a ground-truth file.
    Pseudo-pairs too: their labels are rendered, never read."""
    from selfhdr_cli.io.hdrfile import write_hdr_image

    clean = make_dataset(tmp_path / "clean", n=2)
    poisoned = tmp_path / "poisoned"
    for scene in clean.iterdir():
        (poisoned / scene.name).mkdir(parents=True)
        for f in scene.iterdir():
            (poisoned / scene.name / f.name).write_bytes(f.read_bytes())
        # readable, right size, and far from anything the brackets show: a leak would move the weights
        rng = np.random.default_rng(0)
        write_hdr_image(poisoned / scene.name / "HDRImg.hdr", rng.random((96, 128, 3), dtype=np.float32))

    opened: list[str] = []
    import selfhdr_cli.io.hdrfile as hdrfile

    real_read = hdrfile.read_hdr_image

    def spy(path, *args, **kwargs):
        opened.append(Path(path).name)
        return real_read(path, *args, **kwargs)

    for name, module in list(sys.modules.items()):  # every module that imported the reader by name
        if name.startswith("selfhdr_cli") and getattr(module, "read_hdr_image", None) is real_read:
            monkeypatch.setattr(module, "read_hdr_image", spy)

    a = _train_tiny(clean, tmp_path / "clean.safetensors", *extra)
    b = _train_tiny(poisoned, tmp_path / "poisoned.safetensors", *extra)
    assert opened, "the spy saw no HDR read at all: it is not wired to the readers training uses"
    assert "HDRImg.hdr" not in opened
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # and the two runs are not trivially equal: training moved the weights away from the very init
    # it started from (the same seed and network config), not merely from some other network's
    from selfhdr_cli.nets import build_network
    from selfhdr_cli.nets.weights import read_weights_metadata

    config = read_weights_metadata(tmp_path / "clean.safetensors")["info"]["config"]
    torch.manual_seed(config["seed"])
    init = build_network(config["network"], config["net_config"]).state_dict()
    assert init.keys() == a.keys() and all(init[k].shape == a[k].shape for k in a)
    moved = [k for k in a if not torch.equal(a[k], init[k])]
    assert len(moved) > len(a) // 2, f"training moved only {moved} of {len(a)} tensors from their init"


def test_resume_without_a_checkpoint_is_refused(tmp_path):
    data = make_dataset(tmp_path / "data", n=2)
    r = runner.invoke(app, ["train", str(data), "--preset", "tiny", "--resume"])
    assert r.exit_code == 2 and "nothing to resume" in r.stderr
    r = runner.invoke(app, ["train-structure", str(data), "--preset", "tiny", "--resume"])
    assert r.exit_code == 2 and "nothing to resume" in r.stderr
    r = runner.invoke(app, ["train", str(data), "--supervised", "--preset", "tiny", "--resume"])
    assert r.exit_code == 2 and "supervised.ckpt" in r.stderr
    assert not (tmp_path / "data.selfhdr").exists()  # a refused run leaves nothing behind


def test_stage1_weights_trained_otherwise_are_refused_not_reused(tmp_path):
    data = make_dataset(tmp_path / "data", n=2)
    r = runner.invoke(app, ["train-structure", str(data), "--preset", "tiny"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train-structure", str(data), "--preset", "tiny"])  # same settings: reused
    assert r.exit_code == 0 and "reusing" in r.stderr
    r = runner.invoke(app, ["train", str(data), "--preset", "tiny", "--steps", "7"])
    assert r.exit_code == 2 and "other settings" in r.stderr and "steps 6 → 7" in r.stderr
    r = runner.invoke(app, ["train-structure", str(data), "--preset", "tiny", "--network", "ahdrnet"])
    assert r.exit_code == 2 and "network 'fastnet' → 'ahdrnet'" in r.stderr
    r = runner.invoke(app, ["train-structure", str(data), "--preset", "tiny", "--crf", "srgb"])
    assert r.exit_code == 2 and "response 'gamma:2.2' → 'srgb'" in r.stderr
    # the same work folder, another dataset: stage 1 was not trained on these scenes
    other = make_dataset(tmp_path / "other", n=3)
    r = runner.invoke(app, ["train-structure", str(other), "--preset", "tiny", "--work", str(tmp_path / "data.selfhdr")])
    assert r.exit_code == 2 and "scenes" in r.stderr


def torchrun_train(data: Path, out: Path, *extra: str) -> None:
    """``selfhdr train`` under torchrun, 2 gloo processes on CPU; asserts it ran distributed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "selfhdr_cli", "train", str(data), "--preset", "tiny", *extra, "-o", str(out)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "distributed: 2 processes (gloo)" in proc.stderr


def test_ddp_two_processes_gloo(tmp_path):
    data = make_dataset(tmp_path / "data", n=2)
    out = tmp_path / "ddp.safetensors"
    torchrun_train(data, out)
    net, meta = load_weights(out)
    assert meta["info"]["steps"] == 6


def test_supervised_upper_bound_reads_ground_truth(tmp_path):
    data = make_dataset(tmp_path / "data", n=2, labelled=True)
    out = tmp_path / "sup.safetensors"
    r = runner.invoke(app, ["train", str(data), "--supervised", "--preset", "tiny", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert load_weights(out)[1]["info"]["stage"] == "supervised"
    # without -o the supervised twin never lands where self-supervised weights go
    r = runner.invoke(app, ["train", str(data), "--supervised", "--preset", "tiny"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "data.selfhdr" / "supervised.safetensors").is_file()
    assert not (tmp_path / "data.selfhdr" / "selfhdr.safetensors").exists()
    unlabelled = make_dataset(tmp_path / "plain", n=2)
    r = runner.invoke(app, ["train", str(unlabelled), "--supervised", "--preset", "tiny", "-o",
                            str(tmp_path / "x.safetensors")])
    assert r.exit_code == 2 and "HDRImg.hdr" in r.stderr


def test_pseudo_pairs_train_resume_and_refuse_like_the_other_modes(tmp_path):
    data = make_dataset(tmp_path / "data", n=2)
    for flags in (["--measured-noise"], ["--exposure-steps", "2,64"]):
        r = runner.invoke(app, ["train", str(data), *flags, "--preset", "tiny"])
        assert r.exit_code == 2 and "--pseudo-pairs" in r.stderr
    for bad in ("2", "0.5,4", "8,2", "a,b"):
        r = runner.invoke(app, ["train", str(data), "--pseudo-pairs", "--exposure-steps", bad, "--preset", "tiny"])
        assert r.exit_code == 2 and "--exposure-steps" in r.stderr, bad
    r = runner.invoke(app, ["train", str(data), "--pseudo-pairs", "--supervised", "--preset", "tiny"])
    assert r.exit_code == 2 and "two ways to train" in r.stderr
    r = runner.invoke(app, ["train", str(data), "--pseudo-pairs", "--preset", "tiny", "--resume"])
    assert r.exit_code == 2 and "pseudo.ckpt" in r.stderr
    r = runner.invoke(app, ["train", str(data), "--pseudo-pairs", "--preset", "tiny", "--threads", "1"])
    assert r.exit_code == 0, r.output
    _, meta = load_weights(tmp_path / "data.selfhdr" / "pseudo.safetensors")
    assert meta["info"]["stage"] == "pseudo" and meta["info"]["pseudo_pairs"]["clip_share"] == [0.1, 0.4]
    assert not (tmp_path / "data.selfhdr" / "pseudo.ckpt").exists()


def test_residual_flow_trains_a_fastnet_that_moves_its_outer_frames(tmp_path):
    """--residual-flow adds FastNet's learned residual flow (recorded in the weights' config, merged by
    both engines); it is a FastNet option, and --init keeps the init's network."""
    from selfhdr_cli.merge.fastnet_numpy import load_fastnet_weights

    data = make_dataset(tmp_path / "data", n=2)
    out = tmp_path / "flow.safetensors"
    r = runner.invoke(app, ["train", str(data), "--pseudo-pairs", "--residual-flow", "--preset", "tiny", "--threads", "1",
                            "-o", str(out)])
    assert r.exit_code == 0, r.output
    net, meta = load_weights(out)
    assert meta["config"]["flow"] is True and net.flow and load_fastnet_weights(out)[0].flow
    assert meta["info"]["config"]["net_config"] == {"guide": True, "flow": True}
    r = runner.invoke(app, ["train", str(data), "--residual-flow", "--network", "ahdrnet", "--preset", "tiny"])
    assert r.exit_code == 2 and "FastNet option" in r.stderr
    r = runner.invoke(app, ["train", str(data), "--init", str(out), "--residual-flow", "--preset", "tiny"])
    assert r.exit_code == 2 and "--residual-flow" in r.stderr
