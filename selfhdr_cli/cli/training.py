"""Commands for learning: ``train-structure`` (stage 1) and ``train`` (the whole recipe)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Optional

import typer

from selfhdr_cli.cli.app import (
    ABLATION_PANEL,
    BATCH_OPTION,
    CROP_OPTION,
    DATASET_HELP,
    FLAG,
    LR_OPTION,
    MASKED_FRAMES_OPTION,
    PRESET_OPTION,
    RECIPE_OPTION,
    RECIPE_PANEL,
    RESUME_OPTION,
    SEED_OPTION,
    SP_WEIGHT_OPTION,
    STEPS_OPTION,
    STRUCTURE_PRESET_OPTION,
    THREADS_OPTION,
    TRAIN_COLOR_MERGE_OPTION,
    TRAIN_CRF_OPTION,
    TRAIN_DEVICE_OPTION,
    TRAIN_FLOW_OPTION,
    TRAIN_PANEL,
    VAL_EVERY_OPTION,
    VAL_LIMIT_OPTION,
    VAL_OPTION,
    WORK_OPTION,
    Network,
    Preset,
    DEFAULT_RECIPE,
    Recipe,
    _run_settings,
    _train_progress,
    app,
    err,
    fail,
)
from selfhdr_cli.errors import SelfHDRError, UsageError
from selfhdr_cli.io.atomic import check_output_path, check_writable_folder


@dataclass(frozen=True)
class TrainFlags:
    """What a training command line said, as given (None: not given). The commands build one and
    the helpers below turn it into settings."""

    dataset: Path
    work: Optional[Path] = None
    preset: Optional[Preset] = None
    network: Network = Network.fastnet
    steps: Optional[int] = None
    batch: Optional[int] = None
    crop: Optional[int] = None
    lr: Optional[float] = None
    seed: int = 0
    resume: bool = False
    force: bool = False
    val: Optional[Path] = None
    val_limit: int = 0
    val_every: Optional[int] = None
    device: str = "auto"
    threads: Optional[int] = None
    crf: str = "gamma:2.2"
    flow: Optional[str] = None
    color_merge: Optional[str] = None
    sp_weight: Optional[float] = None
    recipe: Recipe = Recipe(DEFAULT_RECIPE)
    masked_frames: Optional[float] = None
    vgg_weights: Optional[Path] = None
    output: Optional[Path] = None
    init: Optional[str] = None
    supervised: bool = False
    pseudo_pairs: bool = False
    residual_flow: bool = False
    measured_noise: bool = False
    exposure_steps: Optional[str] = None
    highlights: Optional[float] = None

    @staticmethod
    def of(values: dict) -> "TrainFlags":
        """From a command's parameters (its ``locals()``)."""
        names = {f.name for f in fields(TrainFlags)}
        return TrainFlags(**{k: v for k, v in values.items() if k in names})


def _training_setup(flags: TrainFlags, preset: Preset, resume: str | None = None, flow: Optional[str] = None,
                    color_merge: Optional[str] = None, recipe: Optional[str] = None):
    """Everything the training commands need, from ``flags`` with ``preset``; ``resume`` names the
    run to resume (checked before anything is created); ``flow``, ``color_merge`` and ``recipe``
    replace the flags' (fine-tuning takes them from the init weights)."""
    dataset, work, network, val, val_limit = flags.dataset, flags.work, flags.network, flags.val, flags.val_limit
    vgg_weights = flags.vgg_weights
    flow = flow if flow is not None else flags.flow
    color_merge = color_merge if color_merge is not None else flags.color_merge
    recipe = recipe if recipe is not None else flags.recipe.value
    from selfhdr_cli.merge.device import configure_cpu, pick_device
    from selfhdr_cli.training.loop import init_distributed, preset_config, recipe_settings
    from selfhdr_cli.training.recipe import load_validation, workdir_for

    if not dataset.is_dir():
        raise UsageError("no such folder", dataset)
    if val_limit and val is None:
        raise UsageError("--val-limit limits the --val scenes: give --val too")
    if vgg_weights is not None:
        from selfhdr_cli.training.losses import load_vgg19_state

        if not vgg_weights.is_file():
            raise UsageError("no such VGG19 weights file", vgg_weights)
        load_vgg19_state(vgg_weights)  # read it now: a bad file must not wait for the color cache and stage 1
    chosen = recipe_settings(recipe, network.value)
    bracket, color_cfg = _run_settings(flags.crf, flow, color_merge or chosen["color_merge"], chosen["rigid_motion"])
    net_config = None
    if flags.residual_flow:
        if network.value != "fastnet":
            raise UsageError("--residual-flow is a FastNet option, not one of --network ahdrnet")
        net_config = {**chosen["net_config"], "flow": True}
    config = preset_config(preset.value, recipe, network=network.value, steps=flags.steps, batch=flags.batch,
                           crop=flags.crop, lr=flags.lr, seed=flags.seed, response=color_cfg.response.identity,
                           flow=color_cfg.align.flow, color_merge=color_cfg.merge,
                           vgg_weights=str(vgg_weights) if vgg_weights else None, val_every=flags.val_every,
                           sp_weight=flags.sp_weight, masked_frames=flags.masked_frames, net_config=net_config)
    dev = pick_device(flags.device)
    dist = init_distributed(dev)
    if dev.type == "cpu":
        configure_cpu(flags.threads, share=dist.world)  # torchrun processes share the cores, never oversubscribe
    if dist.world > 1 and dist.is_main:
        err.print(f"distributed: {dist.world} processes ({'nccl' if dev.type == 'cuda' else 'gloo'})",
                  highlight=False)
    work_dir = workdir_for(dataset, work, create=False)
    if resume:
        work_dir.check_resumable(resume)
    work_dir.root.mkdir(exist_ok=True)
    check_writable_folder(work_dir.root)  # before hours of training, not after
    validation = None
    if val is not None and dist.is_main:
        with err.status("loading the validation set…"):
            validation = load_validation(val, color_cfg, bracket, val_limit or None)
        err.print(f"validation: {len(validation.names)} scenes from {val}; color component PSNR-μ "
                  f"{validation.color_psnr_mu:.2f} dB", highlight=False)
    return bracket, color_cfg, config, dev, dist, work_dir, validation


class _TrainDisplay:
    """Rich progress for a training stage: losses, the validation figure (PSNR-μ, or the
    fine-tuning guard's loss: ``sign`` -1 turns its score back into a loss), ETA."""

    def __init__(self, progress, label: str, metric: str = "val PSNR-μ", sign: float = 1.0,
                 unit: str = " dB") -> None:
        self.progress = progress
        self.label = label
        self.metric, self.sign, self.unit = metric, sign, unit
        self.task = None
        self.last_val = None

    def _figure(self, value: float) -> str:
        return f"{self.sign * value:.5f}" if self.unit == "" else f"{self.sign * value:.2f}"

    def step(self, record: dict) -> None:
        if self.task is None:
            self.task = self.progress.add_task(self.label, total=record["steps"], completed=record["step"] - 1,
                                               info="")
        if "score" in record:
            self.last_val = record["score"]
        parts = " ".join(f"{k} {v:.4f}" for k, v in record.items() if k in ("se", "sp", "color", "stru"))
        val = f" {self.metric} {self._figure(self.last_val)}" if self.last_val is not None else ""
        self.progress.update(self.task, completed=record["step"], info=f"loss {record['loss']:.4f} ({parts}){val}")
        if "score" in record:
            err.print(f"{self.label} step {record['step']}: {self.metric} {self._figure(record['score'])}"
                      f"{self.unit}, loss {record['loss']:.4f}", highlight=False)

    def event(self, text: str) -> None:
        err.print(text, highlight=False)


@app.command("train-structure", rich_help_panel=TRAIN_PANEL)
def train_structure_cmd(
    dataset: Path = typer.Argument(..., help=DATASET_HELP, show_default=False, metavar="DATASET"),
    work: Optional[Path] = WORK_OPTION,
    preset: Optional[Preset] = STRUCTURE_PRESET_OPTION,
    network: Network = typer.Option(Network.fastnet, "--network", metavar="NET", show_default=False,
                                    rich_help_panel=RECIPE_PANEL,
                                    help="The structure network's architecture: [bold]fastnet[/] (default) or "
                                         "[bold]ahdrnet[/]."),
    steps: Optional[int] = STEPS_OPTION,
    batch: Optional[int] = BATCH_OPTION,
    crop: Optional[int] = CROP_OPTION,
    lr: Optional[float] = LR_OPTION,
    seed: int = SEED_OPTION,
    resume: bool = RESUME_OPTION,
    force: bool = typer.Option(False, "--force", "-f", help="Retrain even when the outputs exist.", metavar=FLAG),
    val: Optional[Path] = VAL_OPTION,
    val_limit: int = VAL_LIMIT_OPTION,
    val_every: Optional[int] = VAL_EVERY_OPTION,
    device: str = TRAIN_DEVICE_OPTION,
    threads: Optional[int] = THREADS_OPTION,
    crf: str = TRAIN_CRF_OPTION,
    flow: Optional[str] = TRAIN_FLOW_OPTION,
    color_merge: Optional[str] = TRAIN_COLOR_MERGE_OPTION,
    sp_weight: Optional[float] = SP_WEIGHT_OPTION,
    recipe: Recipe = RECIPE_OPTION,
) -> None:
    """Stage 1 of training: train the structure network, then write its output for every scene.

    Runs build-color first where the color merge is missing. On random 128×128 crops of the unaligned frames, the structure network learns to follow the color merge where it agrees with the reference (structure expansion) and the reference where it is well exposed (structure preservation). It is then run on the aligned frames at full resolution, and its output is stored per scene (float32 EXR): stage 2's structure target, free of ghosts but not always of the right colors.
    """
    try:
        from selfhdr_cli.training.recipe import train_structure

        flags = TrainFlags.of(locals())
        bracket, color_cfg, config, dev, dist, work_dir, validation = _training_setup(
            flags, preset or Preset.cpu, resume="structure" if resume else None)
        with _train_progress() as progress:
            display = _TrainDisplay(progress, "stage 1")
            result = train_structure(dataset, work_dir, config, color_cfg, bracket, dev, dist, resume=resume, force=force,
                                     validation=validation, on_step=display.step if dist.is_main else None,
                                     on_event=display.event if dist.is_main else None)
        if dist.is_main:
            err.print(f"stage 1 → {work_dir.structure_weights}"
                      + (f" ({result.seconds / 60:.1f} min)" if result else ""), highlight=False)
    except SelfHDRError as exc:
        fail(exc)


@app.command(rich_help_panel=TRAIN_PANEL)
def train(
    dataset: Path = typer.Argument(..., help=DATASET_HELP, show_default=False, metavar="DATASET"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE",
                                          help="Weights to write (.safetensors). Default: selfhdr.safetensors in the "
                                               "work folder (supervised.safetensors with --supervised, "
                                               "selfhdr-finetuned.safetensors with --init)."),
    work: Optional[Path] = WORK_OPTION,
    preset: Optional[Preset] = PRESET_OPTION,
    network: Network = typer.Option(Network.fastnet, "--network", metavar="NET", show_default=False,
                                    rich_help_panel=RECIPE_PANEL,
                                    help="Architecture of both stages: [bold]fastnet[/] (default) or "
                                         "[bold]ahdrnet[/]."),
    steps: Optional[int] = STEPS_OPTION,
    batch: Optional[int] = BATCH_OPTION,
    crop: Optional[int] = CROP_OPTION,
    lr: Optional[float] = LR_OPTION,
    seed: int = SEED_OPTION,
    vgg_weights: Optional[Path] = typer.Option(None, "--vgg-weights", metavar="FILE", rich_help_panel=ABLATION_PANEL,
                                               help="Use the published VGG19 structure loss, from this local "
                                                    "torchvision-format VGG19 state dict (.pth or .safetensors)."),
    init: Optional[str] = typer.Option(None, "--init", metavar="WEIGHTS",
                                       help="Fine-tune these weights on DATASET instead of training from scratch: "
                                            "[bold]default[/] (the shipped ones) or a .safetensors file. A guard "
                                            "holds out 20 % of the brackets and keeps the starting weights unless "
                                            "a checkpoint beats them there."),
    supervised: bool = typer.Option(False, "--supervised", metavar=FLAG,
                                    help="Train the same network supervised instead (L1 in μ-law against each "
                                         "scene's HDRImg.hdr): the upper bound SelfHDR is compared with."),
    pseudo_pairs: bool = typer.Option(False, "--pseudo-pairs", metavar=FLAG, rich_help_panel=RECIPE_PANEL,
                                      help="Train on pseudo-pairs instead of the two stages: brackets rendered "
                                           "again from where each scene's frames agree, with motion and clipping of "
                                           "their own and an exact label (no ground truth read). Writes "
                                           "pseudo.safetensors in the work folder unless -o is given. With --init: "
                                           "fine-tune on them (weights trained on pseudo-pairs always are)."),
    residual_flow: bool = typer.Option(False, "--residual-flow", metavar=FLAG, rich_help_panel=ABLATION_PANEL,
                                       help="FastNet learns a residual flow of the short and long frames at 1/4 "
                                            "resolution and moves them before fusing, where the fixed alignment "
                                            "left them wrong (a clipped reference has no texture to align to)."),
    measured_noise: bool = typer.Option(False, "--measured-noise", metavar=FLAG, rich_help_panel=ABLATION_PANEL,
                                        help="Pseudo-pairs carry each bracket's own noise and bit depth, fitted "
                                             "from its frames, instead of the training camera's."),
    exposure_steps: Optional[str] = typer.Option(None, "--exposure-steps", metavar="MIN,MAX",
                                                 rich_help_panel=ABLATION_PANEL,
                                                 help="Pseudo-pairs step their exposures by ratios drawn in this "
                                                      "range (e.g. 2,64) instead of each scene's own."),
    highlights: Optional[float] = typer.Option(None, "--highlights", min=0.0, max=1.0, metavar="SHARE",
                                               rich_help_panel=ABLATION_PANEL,
                                               help="Share of pseudo-pairs whose highlights (what the reference "
                                                    "clips) are raised until the short frame nearly clips."),
    resume: bool = RESUME_OPTION,
    force: bool = typer.Option(False, "--force", "-f", help="Retrain and overwrite even when outputs exist.",
                               metavar=FLAG),
    val: Optional[Path] = VAL_OPTION,
    val_limit: int = VAL_LIMIT_OPTION,
    val_every: Optional[int] = VAL_EVERY_OPTION,
    device: str = TRAIN_DEVICE_OPTION,
    threads: Optional[int] = THREADS_OPTION,
    crf: str = TRAIN_CRF_OPTION,
    flow: Optional[str] = TRAIN_FLOW_OPTION,
    color_merge: Optional[str] = TRAIN_COLOR_MERGE_OPTION,
    sp_weight: Optional[float] = SP_WEIGHT_OPTION,
    recipe: Recipe = RECIPE_OPTION,
    masked_frames: Optional[float] = MASKED_FRAMES_OPTION,
) -> None:
    """Train a deghosting network on a folder of brackets, without ground truth (the whole SelfHDR recipe).

    Runs whatever is missing: build-color (each scene's color merge), then stage 1 (train-structure: the structure network and its output), then stage 2: on crops of the unaligned frames, the reconstruction network learns the color merge's colors where it agrees with the structure network's output, and that output's structure everywhere, with noise added to the reference frame. Checkpoints every few minutes; --resume continues. Scale out with [bold]torchrun --nproc_per_node N -m selfhdr_cli train ...[/]

    Examples:
      [bold]selfhdr train mybrackets/ --val bench/ -o my.safetensors[/]
      [bold]selfhdr train myshoot/ --init default[/]   (fine-tune the shipped weights)
    """
    flags = TrainFlags.of(locals())
    if init is not None:
        _fine_tune_cmd(flags)
        return
    try:
        from selfhdr_cli.io.atomic import check_output_path
        from selfhdr_cli.training.pseudo_pairs import PseudoPairConfig
        from selfhdr_cli.training.recipe import (train_pseudo_pairs, train_reconstruction, train_structure,
                                                 train_supervised)

        if supervised and pseudo_pairs:
            raise UsageError("--supervised and --pseudo-pairs are two ways to train: pass one")
        run = "supervised" if supervised else "pseudo" if pseudo_pairs else "both"
        pseudo_cfg = _pseudo_settings(flags)
        if pseudo_cfg != PseudoPairConfig() and run != "pseudo":
            raise UsageError("--measured-noise, --exposure-steps and --highlights are settings of the pseudo-pairs: "
                             "give --pseudo-pairs")
        bracket, color_cfg, config, dev, dist, work_dir, validation = _training_setup(
            flags, preset or Preset.cpu, resume=run if resume else None)
        defaults = {"supervised": work_dir.supervised_weights, "pseudo": work_dir.pseudo_weights,
                    "both": work_dir.final_weights}
        out = output if output is not None else defaults[run]
        if dist.is_main:
            check_output_path(out, force or resume, (".safetensors",))
        single = {"supervised": ("supervised", train_supervised), "pseudo": ("pseudo-pairs", train_pseudo_pairs)}
        if run in single:  # one stage instead of the two
            label, trainer = single[run]
            with _train_progress() as progress:
                display = _TrainDisplay(progress, label)
                extra = {"pseudo": pseudo_cfg} if run == "pseudo" else {}
                result = trainer(dataset, work_dir, config, color_cfg, bracket, dev, dist, out, resume=resume,
                                 force=force, validation=validation, on_step=display.step if dist.is_main else None,
                                 on_event=display.event if dist.is_main else None, **extra)
            if dist.is_main:
                err.print(f"{label} → {out} ({result.seconds / 60:.1f} min)", highlight=False)
            return
        with _train_progress() as progress:
            display1 = _TrainDisplay(progress, "stage 1")
            train_structure(dataset, work_dir, config, color_cfg, bracket, dev, dist, resume=resume, force=force,
                            validation=validation, on_step=display1.step if dist.is_main else None,
                            on_event=display1.event if dist.is_main else None)
            display2 = _TrainDisplay(progress, "stage 2")
            result = train_reconstruction(dataset, work_dir, config, bracket, dev, dist, out, resume=resume, force=force,
                                          validation=validation, on_step=display2.step if dist.is_main else None,
                                          on_event=display2.event if dist.is_main else None)
        if dist.is_main:
            err.print(f"stage 2 → {out} ({result.seconds / 60:.1f} min)", highlight=False)
    except SelfHDRError as exc:
        fail(exc)



def _pseudo_settings(flags: TrainFlags, base=None):
    """The pseudo-pair settings of a run: ``base`` (default ``PseudoPairConfig()``) with the flags'
    --measured-noise and --exposure-steps. UsageError for a range that does not parse."""
    from selfhdr_cli.training.pseudo_pairs import PseudoPairConfig

    base = base if base is not None else PseudoPairConfig()
    steps = base.exposure_steps
    if flags.exposure_steps is not None:
        try:
            low, high = (float(v) for v in flags.exposure_steps.split(","))
        except ValueError:
            raise UsageError(f"--exposure-steps {flags.exposure_steps!r}: give MIN,MAX, e.g. 2,64") from None
        if not 1.0 < low <= high < 1e4:
            raise UsageError(f"--exposure-steps {flags.exposure_steps!r}: need 1 < MIN ≤ MAX")
        steps = (low, high)
    highlights = flags.highlights if flags.highlights is not None else base.highlights
    return replace(base, measured_noise=flags.measured_noise or base.measured_noise, exposure_steps=steps,
                   highlights=highlights)


def _fine_tune_cmd(flags: TrainFlags) -> None:
    """``train --init``: fine-tune trained weights on DATASET, guarded (``training.finetune``). Every
    flag of ``train`` is honoured or refused here, in one line, before any work."""
    try:
        from selfhdr_cli.training.finetune import (FINE_TUNE_PSEUDO_PAIRS, check_fine_tune_output, fine_tune,
                                                   fine_tune_start)

        if flags.supervised:
            raise UsageError("--init fine-tunes without labels; it does not combine with --supervised")
        if flags.color_merge is not None or flags.flow is not None or flags.recipe != Recipe(DEFAULT_RECIPE):
            raise UsageError("with --init the color merge, flow and recipe are those the weights were trained with")
        if flags.residual_flow:
            raise UsageError("with --init the network is the one the weights hold: --residual-flow does not apply")
        if flags.val is not None or flags.val_limit:
            raise UsageError("--val and --val-limit do not apply with --init: fine-tuning is judged on brackets of "
                             "DATASET held out from training (the guard), never on ground truth")
        start = fine_tune_start(flags.init, flags.dataset, flags.work, flags.resume)
        bracket, color_cfg, config, dev, dist, work_dir, _ = _training_setup(
            flags, flags.preset or Preset.finetune, flow=start.flow, color_merge=start.color_merge,
            recipe=start.recipe)
        out = flags.output if flags.output is not None else work_dir.root / "selfhdr-finetuned.safetensors"
        check_fine_tune_output(out, start.init)
        if dist.is_main:
            check_output_path(out, flags.force or flags.resume, (".safetensors",))
        # weights trained on pseudo-pairs go on with them: SelfHDR's losses would pull them back to their guide
        objective = "pseudo" if flags.pseudo_pairs or start.objective == "pseudo" else "stage2"
        if (flags.measured_noise or flags.exposure_steps or flags.highlights is not None) and objective != "pseudo":
            raise UsageError("--measured-noise, --exposure-steps and --highlights are settings of the pseudo-pairs: "
                             "give --pseudo-pairs")
        if dist.is_main and objective == "pseudo":
            err.print("fine-tuning on pseudo-pairs made from DATASET's brackets"
                      + ("" if flags.pseudo_pairs else " (the --init weights were trained on them)"), highlight=False)
        with _train_progress() as progress:
            display = _TrainDisplay(progress, "fine-tune", metric="guard loss", sign=-1.0, unit="")
            result = fine_tune(flags.dataset, work_dir, start.init, config, color_cfg, bracket, dev, dist, out,
                               resume=flags.resume, force=flags.force,
                               on_step=display.step if dist.is_main else None,
                               on_event=display.event if dist.is_main else None, objective=objective,
                               pseudo=_pseudo_settings(flags, FINE_TUNE_PSEUDO_PAIRS))
        if dist.is_main:
            held = f"{len(result.held_out)} held-out bracket(s)"
            if result.improved:
                err.print(f"fine-tune → {out}: guard loss {result.start_loss:.5f} → {result.best_loss:.5f} on {held} "
                          f"(step {result.best_step}), {result.seconds / 60:.1f} min", highlight=False)
            else:
                err.print(f"fine-tune: no checkpoint beat the starting model on {held} (guard loss "
                          f"{result.start_loss:.5f}); kept the start → {out}", highlight=False)
    except SelfHDRError as exc:
        fail(exc)
