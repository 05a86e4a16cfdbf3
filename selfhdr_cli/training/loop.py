"""The two training stages (SPEC §3–4): loop, checkpoints, resume, validation, DDP.

``run_stage`` trains one network on in-memory scenes. Checkpoints hold only tensors
and plain values (loadable with ``weights_only=True``) and are written atomically
every few minutes; the data order is a function of (seed, rank, step), so a resumed
run continues exactly where it stopped. Under ``torchrun`` each process trains on
its own crops and gradients are averaged (DistributedDataParallel).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from selfhdr_cli.errors import InputFileError, SelfHDRError, UsageError
from selfhdr_cli.io.atomic import atomic_path
from selfhdr_cli.io.native import decoder_reason
from selfhdr_cli.merge.align import DEFAULT_FLOW
from selfhdr_cli.nets import build_network
from selfhdr_cli.nets.weights import require_finite
from selfhdr_cli.radiometry.mulaw import mu_law
from selfhdr_cli.radiometry.response import CameraResponse
from selfhdr_cli.training.losses import SP_WEIGHT, StructureLoss, VGGLoss, pseudo_pair_loss, stage1_loss, stage2_loss
from selfhdr_cli.training.records import config_difference
from selfhdr_cli.training.trainset import TrainScene, sample_batch

STAGES = ("structure", "reconstruct", "supervised", "pseudo")

# What a recipe fixes: the color component's merge, the global motion before the flow and whether
# FastNet is guided by Y_color. ``paper`` is SPEC §2–4 as written; ``robust`` is this project's departure from it (docs/METHOD.md): Y_color
# from every frame by SNR (merge.snr), a homography before the flow (merge.align) and a guided
# FastNet that keeps Y_color where frames agree (nets.fastnet).
RECIPES: dict[str, dict] = {
    "robust": {"color_merge": "snr", "rigid_motion": "rigid", "guide": True, "masked_frames": 0.0},
    "paper": {"color_merge": "triangle", "rigid_motion": "none", "guide": False, "masked_frames": 0.0},
}
DEFAULT_RECIPE = "robust"


@dataclass(frozen=True)
class TrainConfig:
    """One stage's schedule and model. Presets: ``cpu`` (default), ``tiny`` (tests), ``gpu`` (published)."""

    network: str = "fastnet"
    net_config: dict = field(default_factory=dict)
    steps: int = 3000
    batch: int = 8
    crop: int = 128
    lr: float = 5e-4
    lr_halvings: int = 2  # halve the rate at 1/3 and 2/3 of the schedule, like the published 50/100/150
    seed: int = 0
    checkpoint_minutes: float = 2.0
    val_every: int = 250
    response: str = "gamma:2.2"  # the color component's g by content (CameraResponse.identity); the CLI's --crf
    flow: str = DEFAULT_FLOW  # the color component's alignment: the caches and FastNet's fixed layer
    rigid_motion: str = "rigid"  # before the flow (merge.align.RIGID_MOTIONS)
    recipe: str = DEFAULT_RECIPE  # RECIPES: sets color_merge and FastNet's guide unless they are given
    color_merge: str = "snr"  # the color component's fixed merge (merge.color.COLOR_MERGES)
    vgg_weights: str | None = None
    sp_weight: float = SP_WEIGHT  # stage 1's L_sp weight (SPEC §3: 4); an ablation knob
    masked_frames: float = 0.0  # stage 2: share of crops with masked frames (trainset.mask_frames; guided nets)

    def __post_init__(self) -> None:
        numbers = {"--lr": (self.lr, 0.0, False), "--steps": (self.steps, 1, True), "--batch": (self.batch, 1, True),
                   "--crop": (self.crop, 16, True), "--sp-weight": (self.sp_weight, 0.0, True),
                   "--val-every": (self.val_every, 1, True), "checkpoint minutes": (self.checkpoint_minutes, 0.0, True)}
        for flag, (value, low, inclusive) in numbers.items():
            ok = isinstance(value, (int, float)) and math.isfinite(value) and (value >= low if inclusive else value > low)
            if not ok:
                raise UsageError(f"{flag} {value!r}: expected a finite number {'≥' if inclusive else '>'} {low:g}")
        if not (math.isfinite(self.masked_frames) and 0.0 <= self.masked_frames <= 1.0):
            raise UsageError(f"--masked-frames {self.masked_frames!r}: expected a share in [0, 1]")

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, dict] = {
    "cpu": {},
    "tiny": {"steps": 6, "batch": 2, "crop": 64, "val_every": 3, "checkpoint_minutes": 0.0},
    # fine-tuning from trained weights on a user's shoot (train --init): minutes on 2 cores, a smaller
    # rate than from scratch, the guard every 50 steps
    "finetune": {"steps": 600, "batch": 8, "crop": 128, "lr": 1e-4, "val_every": 50},
    # SPEC §5: Adam, lr 1e-4 halved every 50 of 150 "epochs" of 1200 iterations, batch 16
    "gpu": {"steps": 180_000, "batch": 16, "lr": 1e-4, "lr_halvings": 2, "val_every": 6000,
            "checkpoint_minutes": 10.0},
}


def preset_config(preset: str, recipe: str = DEFAULT_RECIPE, **overrides) -> TrainConfig:
    """A TrainConfig from a named preset and recipe with explicit overrides (None values ignored).

    The preset, then the recipe (color merge, global motion, FastNet's guide), then the
    explicit overrides: each later one wins."""
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    explicit = {k: v for k, v in overrides.items() if v is not None}
    network = explicit.get("network", PRESETS[preset].get("network", TrainConfig.network))
    return replace(TrainConfig(), **{**PRESETS[preset], **recipe_settings(recipe, network), **explicit})


def recipe_settings(recipe: str, network: str) -> dict:
    """The TrainConfig fields a recipe sets for ``network``: color merge, global motion,
    FastNet's guide and its masked frames."""
    if recipe not in RECIPES:
        raise UsageError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    settings = RECIPES[recipe]
    guided = settings["guide"] and network == "fastnet"  # the guide is a FastNet input
    return {"recipe": recipe, "color_merge": settings["color_merge"], "rigid_motion": settings["rigid_motion"],
            "net_config": {"guide": True} if guided else {},
            "masked_frames": settings["masked_frames"] if guided else 0.0}


# what may change when a run is resumed: nothing that alters the trained weights
_RESUMABLE_CHANGES = ("checkpoint_minutes", "val_every")


def learning_rate(config: TrainConfig, step: int) -> float:
    """Step schedule: the rate halves at each of ``lr_halvings`` equal divisions of the run."""
    if config.lr_halvings <= 0:
        return config.lr
    period = config.steps / (config.lr_halvings + 1)
    return config.lr * 0.5 ** min(config.lr_halvings, int(step // max(period, 1)))


@dataclass
class Distributed:
    """This process's place in a torchrun job (world 1 when not distributed)."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group torchrun set up (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank=torch_dist.get_rank(), world=torch_dist.get_world_size())


class TrainingDiverged(SelfHDRError):
    """The loss became NaN or infinite (exit 1)."""


def save_checkpoint(path: Path, net: nn.Module, optimizer: torch.optim.Optimizer, step: int, stage: str,
                    config: TrainConfig, history: list[dict], best: "BestSoFar | None" = None) -> None:
    require_finite(net, path)
    payload = {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "stage": stage,
               "config": json.dumps(config.to_dict()), "history": json.dumps(history)}
    if best is not None:  # the guard's best so far survives an interrupted run
        payload.update(best_model=best.state, best_score=best.score, best_step=best.step)
    with atomic_path(path) as tmp:
        try:
            torch.save(payload, tmp)
        except OSError:
            raise
        except RuntimeError as exc:  # torch reports a failed write (disk full) as "[enforce fail ...]"
            raise OSError(decoder_reason(exc)) from None


def check_resumable(checkpoint: Path, stage: str, config: TrainConfig) -> dict:
    """The checkpoint of ``stage`` made with ``config`` (up to what may change on a resume), or a
    one-line refusal; callers check this before any other work, ``run_stage`` again."""
    state = load_checkpoint(checkpoint)
    if state["stage"] != stage or state["config"]["network"] != config.network:
        raise UsageError(f"checkpoint is for {state['config']['network']} / {state['stage']}, "
                         f"not {config.network} / {stage}", checkpoint)
    changed = config_difference(state["config"], config.to_dict(), ignore=_RESUMABLE_CHANGES)
    if changed:
        raise UsageError(f"checkpoint was made with other settings ({changed}): resume with the same "
                         "ones, or pass --force to start over", checkpoint)
    return state


def load_checkpoint(path: Path) -> dict:
    """A checkpoint dict, loaded without unpickling arbitrary objects."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        payload["config"] = json.loads(payload["config"])
        payload["history"] = json.loads(payload["history"])
        return payload
    except Exception:  # torch's own text about weights_only loading would only confuse here
        raise InputFileError("not a usable checkpoint (corrupt, cut short, or not written by selfhdr): remove it, "
                             "or pass --force to start over", path) from None


@dataclass
class StageResult:
    net: nn.Module
    steps: int
    history: list[dict]
    seconds: float
    best_step: int | None = None  # with keep_best: the step whose weights ``net`` holds (0: the start)
    best_score: float | None = None


@dataclass
class BestSoFar:
    """The best-scoring weights of a run (``keep_best``): score (higher is better), step, state."""

    score: float
    step: int
    state: dict

    @staticmethod
    def of(net: nn.Module, score: float, step: int) -> "BestSoFar":
        return BestSoFar(score, step, {k: v.detach().clone() for k, v in net.state_dict().items()})


Callback = Callable[[dict], None]
Sampler = Callable[[np.random.Generator], dict]  # a batch of tensors from the step's own generator


def run_stage(stage: str, scenes: list[TrainScene], config: TrainConfig, response: CameraResponse,
              checkpoint: Path, resume: bool = False, validate: Callable[[nn.Module], float] | None = None,
              on_step: Callback | None = None, device: torch.device | None = None,
              dist: Distributed | None = None, init: dict | None = None, keep_best: bool = False,
              score_name: str = "val_psnr_mu", sampler: Sampler | None = None) -> StageResult:
    """Train one stage: ``structure`` (L_stage1), ``reconstruct`` (L_stage2) or
    ``supervised`` (L1 in μ-law against ground truth: the upper bound, not SelfHDR) or ``pseudo``
    (L1 in μ-law against the exact labels of pseudo-pairs, ``training.pseudo_pairs``: ``sampler``
    makes the batches), with the camera response ``response`` (whose ``identity`` is ``config.response``).

    ``validate(net) -> score`` (higher is better: PSNR-μ, or a fine-tuning guard's negated
    loss) runs at step 0 and every ``val_every`` steps on the main process. ``init``: a state
    dict to start from (fine-tuning) instead of fresh weights. ``keep_best``: the returned
    network holds the best-scoring weights seen (the start included), not the last ones.
    ``score_name`` names the score in the history (``val_psnr_mu`` for validation PSNR-μ; the
    fine-tuning guard's is ``guard_score``). ``on_step`` receives {"step", "steps", "loss",
    parts..., "lr", "score"?} for display.
    """
    if stage not in STAGES:
        raise UsageError(f"unknown stage {stage!r}")
    if (stage == "pseudo") != (sampler is not None):
        raise ValueError("the pseudo stage, and only it, takes a sampler")
    device = device or torch.device("cpu")
    dist = dist or Distributed()
    if response.identity != config.response:
        raise ValueError(f"the response {response.identity} is not the config's {config.response}")
    torch.manual_seed(config.seed)
    net = build_network(config.network, config.net_config).to(device)
    if init is not None:
        net.load_state_dict(init, strict=True)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, betas=(0.9, 0.999))
    start, history = 0, []
    best: BestSoFar | None = None
    if keep_best and validate is None:
        raise ValueError("keep_best needs a validate callable")
    if resume and not checkpoint.is_file():
        raise UsageError("nothing to resume: no checkpoint", checkpoint)
    if resume:
        state = check_resumable(checkpoint, stage, config)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, history = int(state["step"]), state["history"]
        if keep_best and "best_model" in state:
            best = BestSoFar(float(state["best_score"]), int(state["best_step"]), state["best_model"])
    model: nn.Module = net
    if dist.world > 1:
        model = DistributedDataParallel(net)
    structure = None
    if stage == "reconstruct":
        structure = (VGGLoss(config.vgg_weights) if config.vgg_weights else StructureLoss()).to(device)
    started = time.perf_counter()
    last_save = time.monotonic()
    if start == 0 and validate is not None and dist.is_main:
        history.append({"step": 0, score_name: validate(net)})
        if keep_best:
            best = BestSoFar.of(net, history[-1][score_name], 0)
        net.train()
    for step in range(start, config.steps):
        lr = learning_rate(config, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        rng = np.random.default_rng([config.seed, dist.rank, step])
        gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
        if sampler is not None:
            batch = sampler(rng)
        else:
            batch = sample_batch(scenes, config.batch, config.crop, rng, response,
                                 reference_noise=(stage == "reconstruct"), generator=gen,
                                 masked_frames=config.masked_frames if stage == "reconstruct" else 0.0)
        batch = {k: v.to(device) for k, v in batch.items()}
        pred = model(batch["frames"], batch["aligned"], batch.get("guide"))
        if stage == "structure":
            loss, parts = stage1_loss(pred, batch["y_color"], batch["h_ref"], batch["ldr_ref"], config.sp_weight)
        elif stage == "supervised":
            loss = (mu_law(pred) - mu_law(batch["ground_truth"])).abs().mean()
            parts = {}
        elif stage == "pseudo":
            loss, parts = pseudo_pair_loss(pred, batch["label"], batch["focus"]), {}
        else:
            loss, parts = stage2_loss(pred, batch["y_color"], batch["y_stru"], structure)
        if not torch.isfinite(loss.detach()):  # diverged: stop before the weights (or a checkpoint) go bad
            raise TrainingDiverged(f"{stage} stage, step {step + 1}: the loss is {float(loss.detach())} (lr {lr:g}); "
                                   "training stopped, nothing written after the last good checkpoint; try a "
                                   "smaller --lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        record = {"step": step + 1, "steps": config.steps, "loss": float(loss.detach()), "lr": lr, **parts}
        done = step + 1
        if dist.is_main:
            if validate is not None and (done % config.val_every == 0 or done == config.steps):
                record["score"] = validate(net)
                history.append({"step": done, score_name: record["score"], "loss": record["loss"]})
                if keep_best and (best is None or record["score"] > best.score):
                    best = BestSoFar.of(net, record["score"], done)
                net.train()
            if done == config.steps or time.monotonic() - last_save >= config.checkpoint_minutes * 60:
                save_checkpoint(checkpoint, net, optimizer, done, stage, config, history, best)
                last_save = time.monotonic()
            if on_step:
                on_step(record)
    if dist.world > 1:
        torch_dist.barrier()
    if start >= config.steps and dist.is_main and on_step:
        on_step({"step": start, "steps": config.steps, "loss": math.nan, "lr": 0.0})
    if best is not None:
        net.load_state_dict(best.state)
    return StageResult(net=net.eval(), steps=config.steps, history=history, seconds=time.perf_counter() - started,
                       best_step=best.step if best is not None else None,
                       best_score=best.score if best is not None else None)
