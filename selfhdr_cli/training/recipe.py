"""The SelfHDR recipe end to end: build-color → stage 1 → Y_stru → stage 2 (SPEC §2–4).

A work folder (default ``<DATASET>.selfhdr``, the build-color cache) holds, per scene,
the color cache and ``y_stru.exr``, and at its top the stage checkpoints
(``structure.ckpt``, ``reconstruct.ckpt``) and weights (``structure.safetensors``,
``selfhdr.safetensors``). Each step is skipped when its output exists, so ``train``
runs whatever is missing. Ground-truth files are never opened here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn

from selfhdr_cli.errors import UsageError
from selfhdr_cli.evaluation.metrics import psnr
from selfhdr_cli.io.dataset import GROUND_TRUTH_FILE, find_scenes, labelled_scenes, scene_frames
from selfhdr_cli.io.hdrfile import read_hdr_image, write_hdr_image
from selfhdr_cli.merge.align import align_bracket_with_coverage
from selfhdr_cli.merge.bracket import BracketSettings, load_bracket, three_frames
from selfhdr_cli.merge.color import ColorConfig
from selfhdr_cli.merge.infer import TileConfig, predict
from selfhdr_cli.merge.network import network_guide
from selfhdr_cli.nets.weights import load_weights, read_weights_metadata, save_weights
from selfhdr_cli.radiometry.mulaw import mu_law
from selfhdr_cli.radiometry.response import CameraResponse
from selfhdr_cli.training.caches import STRU_FILE, ColorCache, build_color_scene, default_cache_root
from selfhdr_cli.training.loop import Distributed, StageResult, TrainConfig, run_stage
from selfhdr_cli.training.pseudo_pairs import PseudoPairConfig, sample_pseudo_batch, scene_noise
from selfhdr_cli.training.records import config_difference
from selfhdr_cli.training.trainset import TrainScene, load_train_scene

Event = Callable[[str], None]


@dataclass(frozen=True)
class Workdir:
    root: Path

    def scene(self, name: str) -> ColorCache:
        return ColorCache(self.root / name)

    @property
    def structure_checkpoint(self) -> Path:
        return self.root / "structure.ckpt"

    @property
    def structure_weights(self) -> Path:
        return self.root / "structure.safetensors"

    @property
    def reconstruct_checkpoint(self) -> Path:
        return self.root / "reconstruct.ckpt"

    @property
    def final_weights(self) -> Path:
        return self.root / "selfhdr.safetensors"

    @property
    def supervised_checkpoint(self) -> Path:
        return self.root / "supervised.ckpt"

    @property
    def supervised_weights(self) -> Path:
        return self.root / "supervised.safetensors"

    @property
    def pseudo_checkpoint(self) -> Path:
        return self.root / "pseudo.ckpt"

    @property
    def pseudo_weights(self) -> Path:
        return self.root / "pseudo.safetensors"

    def check_resumable(self, run: str) -> None:
        """``--resume`` needs a checkpoint to continue: refuse when ``run`` (``structure``, ``both``
        stages or ``supervised``) has none."""
        checkpoints = {"structure": [self.structure_checkpoint],
                       "both": [self.structure_checkpoint, self.reconstruct_checkpoint],
                       "supervised": [self.supervised_checkpoint], "pseudo": [self.pseudo_checkpoint]}[run]
        if not any(c.is_file() for c in checkpoints):
            raise UsageError(f"nothing to resume: no {' or '.join(c.name for c in checkpoints)} in the work folder",
                             self.root)


def workdir_for(dataset: Path, work: Path | None, create: bool = True) -> Workdir:
    """The work folder (``work``, else ``<dataset>.selfhdr``); created unless ``create`` is False."""
    root = Path(work) if work is not None else default_cache_root(dataset)
    if not root.parent.resolve().is_dir():
        raise UsageError("work folder's parent does not exist", root.parent)
    if create:
        root.mkdir(exist_ok=True)
    return Workdir(root)


def ensure_color(dataset: Path, work: Workdir, color: ColorConfig, bracket: BracketSettings,
                 on_event: Event | None = None) -> list[Path]:
    """Build the color cache of every scene that lacks one or whose cache was built with other
    settings (said in an event), its frames read with ``bracket``. Returns the scene folders."""
    scenes = find_scenes(dataset)
    for i, scene in enumerate(scenes):
        status, why = build_color_scene(scene_frames(scene), work.scene(scene.name).folder, color, bracket)
        if on_event and status != "skipped":
            on_event(f"build-color {scene.name} ({i + 1}/{len(scenes)}): {status}" + (f" ({why})" if why else ""))
    return scenes


def load_scenes(scenes: list[Path], work: Workdir, bracket: BracketSettings, need_stru: bool) -> list[TrainScene]:
    return [load_train_scene(scene_frames(s), work.scene(s.name), bracket, need_stru) for s in scenes]


@dataclass
class ValidationSet:
    """A labelled dataset held in memory for PSNR-μ during training (ground truth read here only)."""

    names: list[str]
    ldr: list[np.ndarray]
    aligned: list[np.ndarray]
    times: list[np.ndarray]
    ground_truth: list[np.ndarray]
    color_psnr_mu: float
    response: CameraResponse
    guides: list[np.ndarray]  # Y_color and the static gate, (H, W, 4), for guided networks

    def score(self, net: nn.Module, device: torch.device) -> float:
        net.eval()
        response = self.response
        scores = []
        guided = getattr(net, "needs_guide", False)
        for ldr, al, t, gt, guide in zip(self.ldr, self.aligned, self.times, self.ground_truth, self.guides):
            pred = predict(net, ldr, al if getattr(net, "needs_alignment", False) else None, t, response,
                           TileConfig(tile=4096), device, guide=guide if guided else None)
            scores.append(psnr(mu_law(pred), mu_law(gt)))
        return float(np.mean(scores))


def load_validation(dataset: Path, color: ColorConfig, bracket_settings: BracketSettings,
                    limit: int | None = None) -> ValidationSet:
    """Frames (read with ``bracket_settings``), flow-aligned frames and ground truth of a labelled
    dataset; also Y_color's PSNR-μ. Refuses a dataset without labelled scenes."""
    if not Path(dataset).is_dir():
        raise UsageError("--val: no such folder", dataset)
    if not labelled_scenes(dataset):
        raise UsageError(f"--val: no labelled scenes (a {GROUND_TRUTH_FILE} in each scene folder)", dataset)
    names, ldrs, aligns, times, gts, color_scores, guides = [], [], [], [], [], [], []
    for scene in labelled_scenes(dataset)[:limit]:
        bracket = load_bracket(scene_frames(scene), bracket_settings)
        pick = three_frames(len(bracket), bracket.reference)
        aligned, covered = align_bracket_with_coverage(bracket.frames, bracket.times, bracket.reference,
                                                       color.response, color.align)
        gt = read_hdr_image(scene / GROUND_TRUTH_FILE)
        guide = network_guide(aligned, bracket.relative_times, bracket.reference, color, covered)
        guides.append(guide)
        y_color = guide[..., :3]
        color_scores.append(psnr(mu_law(y_color), mu_law(gt)))
        names.append(scene.name)
        ldrs.append(np.stack([bracket.frames[i] for i in pick]))
        aligns.append(np.stack([aligned[i] for i in pick]))
        times.append(np.asarray([bracket.relative_times[i] for i in pick], np.float32))
        gts.append(gt)
    return ValidationSet(names, ldrs, aligns, times, gts, float(np.mean(color_scores)), color.response, guides)


def write_structure_component(net: nn.Module, scenes: list[Path], work: Workdir, bracket: BracketSettings,
                              device: torch.device, on_event: Event | None = None) -> None:
    """Y_stru = f_s(aligned frames) at full resolution, stored as float32 EXR (SPEC §3)."""
    response = bracket.response
    for i, scene in enumerate(scenes):
        if on_event:
            on_event(f"Y_stru {scene.name} ({i + 1}/{len(scenes)})")
        s = load_train_scene(scene_frames(scene), work.scene(scene.name), bracket, need_stru=False)
        guide = np.concatenate([s.y_color, s.gate], axis=-1) if getattr(net, "needs_guide", False) else None
        y_stru = predict(net, s.aligned, s.aligned if getattr(net, "needs_alignment", False) else None, s.times,
                         response, TileConfig(), device, guide=guide)
        write_hdr_image(work.scene(scene.name).folder / STRU_FILE, y_stru)


def barrier(dist: Distributed) -> None:
    """Wait for every process of a torchrun group (nothing to wait for alone)."""
    if dist.world > 1:
        torch_dist.barrier()


def structure_record(config: TrainConfig, color: ColorConfig, scenes: list[Path]) -> dict:
    """What stage-1 weights depend on: the training config (response and flow included), the
    color component's settings and the scenes they were trained on."""
    ours = (config.response, config.flow, config.rigid_motion, config.color_merge)
    theirs = (color.response.identity, color.align.flow, color.align.rigid_motion, color.merge)
    if ours != theirs:
        raise UsageError(f"the training config {ours} and the color component {theirs} disagree")
    return {**config.to_dict(), "interpolation": color.align.interpolation, "scenes": sorted(s.name for s in scenes)}


def _reusable_structure(work: Workdir, config: TrainConfig, color: ColorConfig, scenes: list[Path],
                        force: bool) -> bool:
    """Whether the existing stage-1 weights were trained as asked; refuses (one line) when not."""
    if force or not work.structure_weights.is_file():
        return False
    recorded = read_weights_metadata(work.structure_weights)["info"].get("record")
    asked = structure_record(config, color, scenes)
    if recorded is None:
        raise UsageError("stage-1 weights without a record of how they were trained: pass --force to retrain",
                         work.structure_weights)
    changed = config_difference(recorded, asked, ignore=("checkpoint_minutes", "val_every", "vgg_weights",
                                                         "masked_frames"))  # stage-2 settings
    if changed:
        raise UsageError(f"stage-1 weights were trained with other settings ({changed}): pass --force to retrain "
                         "them, or ask for the same", work.structure_weights)
    return True


def train_structure(dataset: Path, work: Workdir, config: TrainConfig, color: ColorConfig,
                    bracket: BracketSettings, device: torch.device, dist: Distributed, resume: bool = False, force: bool = False,
                    validation: ValidationSet | None = None, on_step=None,
                    on_event: Event | None = None) -> StageResult | None:
    """Stage 1 and Y_stru for every scene.

    Existing stage-1 weights are reused only when they were trained with the asked config
    and color settings (else a one-line refusal, unless ``force``); Y_stru is written
    for every scene that lacks it. Returns None when stage 1 was reused.
    """
    scenes = find_scenes(dataset)
    reuse = _reusable_structure(work, config, color, scenes, force)
    if reuse and work.structure_checkpoint.is_file():
        raise UsageError("stage-1 weights and an unfinished stage-1 checkpoint both exist: remove one",
                         work.structure_checkpoint)
    if not reuse:
        _check_checkpoint(work.structure_checkpoint, resume, force)
    if dist.is_main:
        ensure_color(dataset, work, color, bracket, on_event)
    barrier(dist)
    result = None
    if reuse:
        net, _ = load_weights(work.structure_weights)
        net = net.to(device)
        if on_event and dist.is_main:
            on_event(f"stage 1: reusing {work.structure_weights} (trained with the same settings)")
    else:
        scenes_mem = load_scenes(scenes, work, bracket, need_stru=False)
        validate = (lambda n: validation.score(n, device)) if validation else None
        result = run_stage("structure", scenes_mem, config, bracket.response, work.structure_checkpoint,
                           resume=resume and work.structure_checkpoint.is_file(),
                           validate=validate, on_step=on_step, device=device, dist=dist)
        net = result.net
        if dist.is_main:
            save_weights(work.structure_weights, net, config.network,
                         {"stage": "structure", "steps": config.steps, "record": structure_record(config, color, scenes),
                          "history": result.history})
            work.structure_checkpoint.unlink(missing_ok=True)  # a checkpoint means an unfinished run
            for scene in scenes:  # Y_stru of older stage-1 weights must not survive
                (work.scene(scene.name).folder / STRU_FILE).unlink(missing_ok=True)
    if dist.is_main:
        missing = [s for s in scenes if not (work.scene(s.name).folder / STRU_FILE).is_file()]
        write_structure_component(net, missing, work, bracket, device, on_event)
    barrier(dist)
    return result


def train_reconstruction(dataset: Path, work: Workdir, config: TrainConfig, bracket: BracketSettings,
                         device: torch.device, dist: Distributed,
                         output: Path, resume: bool = False, force: bool = False,
                         validation: ValidationSet | None = None, on_step=None,
                         on_event: Event | None = None) -> StageResult:
    """Stage 2 on the unaligned frames with Y_color and Y_stru; writes the final weights."""
    _check_checkpoint(work.reconstruct_checkpoint, resume, force)
    scenes = find_scenes(dataset)
    scenes_mem = load_scenes(scenes, work, bracket, need_stru=True)
    validate = (lambda n: validation.score(n, device)) if validation else None
    if resume and not work.reconstruct_checkpoint.is_file() and on_event and dist.is_main:
        on_event("stage 2: no checkpoint to resume, starting at step 0")
    result = run_stage("reconstruct", scenes_mem, config, bracket.response, work.reconstruct_checkpoint,
                       resume=resume and work.reconstruct_checkpoint.is_file(),
                       validate=validate, on_step=on_step, device=device, dist=dist)
    if dist.is_main:
        info = {"stage": "reconstruct", "steps": config.steps, "config": config.to_dict(), "history": result.history,
                "scenes": len(scenes), "dataset": str(dataset)}
        if validation is not None:
            info["val_color_psnr_mu"] = validation.color_psnr_mu
        save_weights(output, result.net, config.network, info)
        work.reconstruct_checkpoint.unlink(missing_ok=True)
    barrier(dist)
    return result


def train_supervised(dataset: Path, work: Workdir, config: TrainConfig, color: ColorConfig,
                     bracket: BracketSettings, device: torch.device, dist: Distributed, output: Path, resume: bool = False, force: bool = False,
                     validation: ValidationSet | None = None, on_step=None,
                     on_event: Event | None = None) -> StageResult:
    """The supervised upper bound: the same network, data and schedule, trained with L1 in
    μ-law against each scene's HDRImg.hdr. This is the one place ground truth is read."""
    checkpoint = work.supervised_checkpoint
    _check_checkpoint(checkpoint, resume, force)
    if dist.is_main:
        ensure_color(dataset, work, color, bracket, on_event)
    barrier(dist)
    scenes = find_scenes(dataset)
    missing = [s for s in scenes if not (s / GROUND_TRUTH_FILE).is_file()]
    if missing:
        raise UsageError(f"supervised training needs {GROUND_TRUTH_FILE} in every scene", missing[0])
    mem = [load_train_scene(scene_frames(s), work.scene(s.name), bracket, need_stru=False,
                            ground_truth=s / GROUND_TRUTH_FILE)
           for s in scenes]
    validate = (lambda n: validation.score(n, device)) if validation else None
    result = run_stage("supervised", mem, config, bracket.response, checkpoint, resume=resume, validate=validate, on_step=on_step,
                       device=device, dist=dist)
    if dist.is_main:
        save_weights(output, result.net, config.network,
                     {"stage": "supervised", "steps": config.steps, "config": config.to_dict(),
                      "history": result.history, "scenes": len(scenes), "dataset": str(dataset)})
        checkpoint.unlink(missing_ok=True)
    barrier(dist)
    return result


def train_pseudo_pairs(dataset: Path, work: Workdir, config: TrainConfig, color: ColorConfig,
                       bracket: BracketSettings, device: torch.device, dist: Distributed, output: Path,
                       resume: bool = False, force: bool = False, validation: ValidationSet | None = None,
                       on_step=None, on_event: Event | None = None,
                       pseudo: PseudoPairConfig = PseudoPairConfig()) -> StageResult:
    """The network trained on pseudo-pairs made from the dataset's own brackets
    (``training.pseudo_pairs``: exact labels, no ground truth read), L1 in μ-law weighted on what
    moves over clipped reference pixels. A guided FastNet starts as Y_color, so it can only move
    away from it where the labels say so."""
    checkpoint = work.pseudo_checkpoint
    _check_checkpoint(checkpoint, resume, force)
    if dist.is_main:
        ensure_color(dataset, work, color, bracket, on_event)
    barrier(dist)
    scenes = find_scenes(dataset)
    mem = load_scenes(scenes, work, bracket, need_stru=False)
    guided = bool(config.net_config.get("guide"))
    noises = [scene_noise(m, bracket.response) for m in mem] if pseudo.measured_noise else None
    sampler = lambda rng: sample_pseudo_batch(mem, config.batch, config.crop, rng, bracket.response,  # noqa: E731
                                              color, guided, pseudo, noises)
    validate = (lambda n: validation.score(n, device)) if validation else None
    result = run_stage("pseudo", mem, config, bracket.response, checkpoint, resume=resume and checkpoint.is_file(),
                       validate=validate, on_step=on_step, device=device, dist=dist, sampler=sampler)
    if dist.is_main:
        info = {"stage": "pseudo", "steps": config.steps, "config": config.to_dict(), "history": result.history,
                "pseudo_pairs": asdict(pseudo), "scenes": len(scenes), "dataset": str(dataset)}
        if validation is not None:
            info["val_color_psnr_mu"] = validation.color_psnr_mu
        save_weights(output, result.net, config.network, info)
        checkpoint.unlink(missing_ok=True)
    barrier(dist)
    return result


def _check_checkpoint(path: Path, resume: bool, force: bool) -> None:
    if path.is_file() and not resume and not force:
        raise UsageError("a checkpoint of an unfinished run exists: pass --resume to continue it or --force "
                         "to start over", path)
    if path.is_file() and force and not resume:
        path.unlink()


