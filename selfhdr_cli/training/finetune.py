"""Fine-tuning trained weights on a user's own unlabelled brackets, with a guard.

``train DIR --init default|WEIGHTS`` starts stage 2 from the given weights instead of from
scratch, on the brackets of DIR, with the ``finetune`` schedule (minutes on 2 cores). Stage
1 is not retrained when its weights ship beside the init (``<stem>-structure.safetensors``):
they give Y_stru for the new scenes directly.

The guard never hands back a worse model: a fraction of the brackets is held out, and a
no-reference score — the stage-2 loss itself (L_color + L_stru, SPEC §4) on a fixed set of
their crops, the same self-consistency the training minimises, and no ground truth — is
measured at the start and every ``val_every`` steps. The best checkpoint is kept; when none
beats the start, the start is what is written, and the caller says so.

Weights trained on pseudo-pairs (``train --pseudo-pairs``) are fine-tuned on pseudo-pairs made
from the new brackets (``training.pseudo_pairs``), and their guard is the pseudo-pair loss on
fixed pseudo-pairs rendered from the held-out brackets: exact labels, still no ground truth.
Stage 1 is then not needed.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from selfhdr_cli.errors import UsageError
from selfhdr_cli.io.dataset import find_scenes
from selfhdr_cli.merge.bracket import BracketSettings
from selfhdr_cli.merge.color import ColorConfig
from selfhdr_cli.nets.weights import load_weights, save_weights
from selfhdr_cli.radiometry.response import CameraResponse
from selfhdr_cli.training.caches import STRU_FILE
from selfhdr_cli.training.loop import Distributed, TrainConfig, check_resumable, run_stage
from selfhdr_cli.training.losses import StructureLoss, pseudo_pair_loss, stage2_loss
from selfhdr_cli.training.pseudo_pairs import PseudoPairConfig, sample_pseudo_batch, scene_noise
from selfhdr_cli.training.recipe import (
    Workdir,
    barrier,
    ensure_color,
    load_scenes,
    train_structure,
    workdir_for,
    write_structure_component,
)
from selfhdr_cli.training.trainset import TrainScene, sample_batch

HOLD_OUT_EVERY = 5        # every 5th bracket (by name) is held out for the guard: 20 %
GUARD_CROPS = 32          # fixed crops of the held-out brackets the guard scores
GUARD_SEED = 20_240_513   # the crops are the same at every evaluation and after a resume
GUARD_MARGIN = 0.005      # a checkpoint must lower the guard loss by 0.5 % to beat the start (not noise)
GUARD_SCORE = "guard_score"  # its name in the history: minus the stage-2 loss on held-out crops (higher is better)

Event = Callable[[str], None]


@dataclass
class FineTuneResult:
    """What fine-tuning did: ``improved`` False when the start was kept; the guard's loss at the
    start and at the best step; held-out and training bracket names; seconds."""

    improved: bool
    start_loss: float
    best_loss: float
    best_step: int
    held_out: list[str]
    trained_on: list[str]
    seconds: float


@dataclass(frozen=True)
class FineTuneStart:
    """What fine-tuning starts from: the init weights and what they were trained with, which the
    fine-tuned network must keep (its flow layer, its color-merge input, its recipe)."""

    init: Path
    flow: str
    color_merge: str
    recipe: str
    objective: str = "stage2"  # what the init was trained on: "stage2" (SelfHDR's losses) or "pseudo" (pseudo-pairs)


def fine_tune_start(init: str, dataset: Path, work: Path | None, resume: bool) -> FineTuneStart:
    """``init`` (``default``: the shipped weights, else a file) checked and read; with ``resume``,
    the unfinished fine-tuning checkpoint must exist. All before any work."""
    from selfhdr_cli.merge.network import trained_alignment, trained_color_merge
    from selfhdr_cli.nets.weights import default_weights, read_weights_metadata, resolve_weights

    init_path = Path(default_weights() if init == "default" else init)
    meta = read_weights_metadata(resolve_weights(str(init_path)))
    if resume:
        checkpoint = workdir_for(dataset, work, create=False).root / CHECKPOINT
        if not checkpoint.is_file():
            raise UsageError(f"nothing to resume: no {CHECKPOINT} in the work folder", checkpoint.parent)
    trained = meta["info"].get("config") or {}
    return FineTuneStart(init_path, trained_alignment(meta, init_path).flow, trained_color_merge(meta, init_path),
                         trained.get("recipe", "paper"), trained_objective(meta["info"]))


OBJECTIVES = ("stage2", "pseudo")


def trained_objective(info: dict) -> str:
    """What weights were trained on, from their header's ``info``: ``pseudo`` for ``train
    --pseudo-pairs`` and fine-tuning runs that continued it, else ``stage2`` (SelfHDR's losses)."""
    if info.get("stage") == "pseudo":
        return "pseudo"
    return info.get("objective", "stage2") if info.get("stage") == "finetune" else "stage2"


def check_fine_tune_output(out: Path, init: Path) -> None:
    """Fine-tuning writes a new file: never the init weights, nor the stage-1 weights beside them
    (which later fine-tuning runs reuse)."""
    for source, what in ((init, "the --init weights"), (structure_beside(init), "their stage-1 weights")):
        if Path(out).resolve() == source.resolve():
            raise UsageError(f"-o is {what}: fine-tuning writes a new file", out)


# pseudo-pairs for a user's camera: its own noise, fitted from each bracket
FINE_TUNE_PSEUDO_PAIRS = PseudoPairConfig()

CHECKPOINT = "finetune.ckpt"  # in the work folder: an unfinished fine-tuning run


def structure_beside(init: Path) -> Path:
    """Where the stage-1 weights of ``init`` ship: ``<stem>-structure.safetensors`` beside it."""
    return init.with_name(f"{init.stem}-structure.safetensors")


def split_held_out(names: list[str]) -> tuple[list[str], list[str]]:
    """(training, held out): every ``HOLD_OUT_EVERY``-th name in sorted order is held out, at least
    one. Fewer than two brackets are refused: the guard must score brackets it did not train on."""
    ordered = sorted(names)
    if len(ordered) < 2:
        raise UsageError(f"fine-tuning needs at least 2 brackets (one is held out to guard against a worse "
                         f"model); the dataset has {len(ordered)}")
    held = [n for i, n in enumerate(ordered) if i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1] or [ordered[-1]]
    return [n for n in ordered if n not in held], held


def guard_score(scenes: list[TrainScene], config: TrainConfig, response: CameraResponse
                ) -> Callable[[nn.Module], float]:
    """The guard: −(stage-2 loss) of a network on fixed crops of ``scenes`` (higher is better)."""
    rng = np.random.default_rng(GUARD_SEED)
    batch = sample_batch(scenes, GUARD_CROPS, config.crop, rng, response, reference_noise=False,
                         generator=torch.Generator().manual_seed(GUARD_SEED))
    structure = StructureLoss()
    return _negated_loss(batch, lambda pred, b: stage2_loss(pred, b["y_color"], b["y_stru"],
                                                            structure.to(pred.device))[0])


def _negated_loss(batch: dict[str, torch.Tensor], loss_of: Callable[[torch.Tensor, dict], torch.Tensor]
                  ) -> Callable[[nn.Module], float]:
    """A guard: −``loss_of(prediction, batch)`` of a network on the fixed ``batch``."""

    @torch.no_grad()
    def score(net: nn.Module) -> float:
        net.eval()
        device = next(net.parameters()).device
        moved = {k: v.to(device) for k, v in batch.items()}
        pred = net(moved["frames"], moved["aligned"], moved.get("guide"))
        return -float(loss_of(pred, moved))

    return score


def pseudo_guard_score(scenes: list[TrainScene], config: TrainConfig, response: CameraResponse,
                       color: ColorConfig, pseudo: PseudoPairConfig) -> Callable[[nn.Module], float]:
    """The guard of a pseudo-pair fine-tuning run: −(pseudo-pair loss) of a network on fixed
    pseudo-pairs rendered from ``scenes`` (higher is better; exact labels, no ground truth)."""
    guided = bool(config.net_config.get("guide"))
    noises = [scene_noise(s, response) for s in scenes] if pseudo.measured_noise else None
    batch = sample_pseudo_batch(scenes, GUARD_CROPS, config.crop, np.random.default_rng(GUARD_SEED), response,
                                color, guided, pseudo, noises)
    return _negated_loss(batch, lambda pred, b: pseudo_pair_loss(pred, b["label"], b["focus"]))


def _structure_marker(work: Workdir) -> Path:
    return work.root / "finetune-structure.sha256"


def prepare_structure(dataset: Path, work: Workdir, init: Path, config: TrainConfig, color: ColorConfig,
                      bracket: BracketSettings, device: torch.device, dist: Distributed, resume: bool, force: bool, on_step=None,
                      on_event: Event | None = None) -> None:
    """Y_stru for every scene: from the stage-1 weights shipped beside ``init`` when there are
    some (no stage-1 training), else stage 1 trained as usual."""
    shipped = structure_beside(init)
    if not shipped.is_file():
        if on_event and dist.is_main:
            on_event(f"stage 1: no {shipped.name} beside the init weights, training it")
        train_structure(dataset, work, config, color, bracket, device, dist, resume=resume, force=force,
                        on_step=on_step, on_event=on_event)
        return
    scenes = find_scenes(dataset)
    if dist.is_main:
        ensure_color(dataset, work, color, bracket, on_event)
        digest = hashlib.sha256(shipped.read_bytes()).hexdigest()
        marker = _structure_marker(work)
        if not marker.is_file() or marker.read_text().strip() != digest:  # Y_stru of other stage-1 weights
            for scene in scenes:
                (work.scene(scene.name).folder / STRU_FILE).unlink(missing_ok=True)
        net, _ = load_weights(shipped)
        missing = [s for s in scenes if not (work.scene(s.name).folder / STRU_FILE).is_file()]
        if on_event and missing:
            on_event(f"stage 1: reusing {shipped.name} for Y_stru of {len(missing)} brackets")
        write_structure_component(net.to(device), missing, work, bracket, device, on_event)
        marker.write_text(digest + "\n")
    barrier(dist)


def fine_tune(dataset: Path, work: Workdir, init: Path, config: TrainConfig, color: ColorConfig,
              bracket: BracketSettings, device: torch.device, dist: Distributed, output: Path, resume: bool = False, force: bool = False,
              on_step=None, on_event: Event | None = None, objective: str = "stage2",
              pseudo: PseudoPairConfig = FINE_TUNE_PSEUDO_PAIRS) -> FineTuneResult:
    """Fine-tune ``init`` on the brackets of ``dataset`` (never their ground truth) and write
    ``output``: the best weights the guard saw, or the start when nothing beat it.

    ``objective``: ``stage2`` (SelfHDR's stage-2 losses, Y_stru from the stage-1 weights beside
    ``init`` or trained) or ``pseudo`` (pseudo-pairs made from the brackets with ``pseudo``)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown fine-tuning objective {objective!r}")
    stage = "pseudo" if objective == "pseudo" else "reconstruct"
    start_net, meta = load_weights(init)
    if meta["network"] != config.network:
        raise UsageError(f"--init holds a {meta['network']} network, not {config.network}", init)
    config = replace(config, net_config=meta["config"])
    checkpoint = work.root / CHECKPOINT
    if checkpoint.is_file() and not resume and not force:
        raise UsageError("a checkpoint of an unfinished fine-tuning run exists: pass --resume to continue it "
                         "or --force to start over", checkpoint)
    if checkpoint.is_file() and force and not resume:
        checkpoint.unlink()
    if resume and checkpoint.is_file():  # before stage 1 and the caches: another --init must not cost them
        check_resumable(checkpoint, stage, config)
    if objective == "pseudo":  # no Y_stru: the labels are the pseudo-pairs' own
        if dist.is_main:
            ensure_color(dataset, work, color, bracket, on_event)
        barrier(dist)
    else:
        prepare_structure(dataset, work, init, config, color, bracket, device, dist, resume, force, None, on_event)
    by_name = {s.name: s for s in find_scenes(dataset)}
    names = list(by_name)
    trained_on, held_out = split_held_out(names)
    need_stru = objective == "stage2"
    train_mem = load_scenes([by_name[n] for n in trained_on], work, bracket, need_stru=need_stru)
    held_mem = load_scenes([by_name[n] for n in held_out], work, bracket, need_stru=need_stru)
    sampler = None
    if objective == "pseudo":
        guided = bool(config.net_config.get("guide"))
        guard = pseudo_guard_score(held_mem, config, bracket.response, color, pseudo)
        noises = [scene_noise(m, bracket.response) for m in train_mem] if pseudo.measured_noise else None
        sampler = lambda rng: sample_pseudo_batch(train_mem, config.batch, config.crop, rng,  # noqa: E731
                                                  bracket.response, color, guided, pseudo, noises)
    else:
        guard = guard_score(held_mem, config, bracket.response)
    result = run_stage(stage, train_mem, config, bracket.response, checkpoint, resume=resume and checkpoint.is_file(),
                       validate=guard, on_step=on_step, device=device, dist=dist,
                       init=start_net.state_dict(), keep_best=True, score_name=GUARD_SCORE, sampler=sampler)
    if not dist.is_main:  # the guard runs on the main process only; it decides and writes
        barrier(dist)
        return FineTuneResult(False, float("nan"), float("nan"), 0, held_out, trained_on, result.seconds)
    start_loss = -next(h[GUARD_SCORE] for h in result.history if h["step"] == 0)
    best_loss = -float(result.best_score)
    improved = bool(result.best_step) and best_loss < start_loss * (1 - GUARD_MARGIN)
    if dist.is_main:
        net = result.net if improved else start_net
        info = {"stage": "finetune", "objective": objective, "init": str(init), "steps": config.steps,
                "config": config.to_dict(), "history": result.history, "kept_start": not improved,
                "held_out": held_out, "scenes": len(names), "dataset": str(dataset)}
        if objective == "pseudo":
            info["pseudo_pairs"] = asdict(pseudo)
        save_weights(output, net, config.network, info)
        checkpoint.unlink(missing_ok=True)
    barrier(dist)
    return FineTuneResult(improved=improved, start_loss=start_loss, best_loss=best_loss if improved else start_loss,
                          best_step=int(result.best_step or 0) if improved else 0, held_out=held_out,
                          trained_on=trained_on, seconds=result.seconds)
