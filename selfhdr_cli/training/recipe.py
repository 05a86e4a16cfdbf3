"""The SelfHDR recipe end to end: build-color → stage 1 → Y_stru → stage 2 (SPEC §2–4).

A work folder (default ``<DATASET>.selfhdr``, the build-color cache) holds, per scene,
the colour cache and ``y_stru.exr``, and at its top the stage checkpoints
(``structure.ckpt``, ``reconstruct.ckpt``) and weights (``structure.safetensors``,
``selfhdr.safetensors``). Each step is skipped when its output exists, so ``train``
runs whatever is missing. Ground-truth files are never opened here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from selfhdr_cli.merge.align import align_bracket
from selfhdr_cli.merge.bracket import load_bracket
from selfhdr_cli.merge.colour import ColorConfig, merge_triangle
from selfhdr_cli.io.dataset import ColorCache, build_color_scene, default_cache_root, find_scenes, scene_frames
from selfhdr_cli.errors import UsageError
from selfhdr_cli.io.hdrfile import read_hdr_image, write_hdr_image
from selfhdr_cli.merge.infer import TileConfig, predict
from selfhdr_cli.evaluation.metrics import psnr
from selfhdr_cli.radiometry.response import parse_response
from selfhdr_cli.radiometry.tonemap import mu_law
from selfhdr_cli.training.loop import Distributed, StageResult, TrainConfig, run_stage
from selfhdr_cli.training.trainset import STRU_FILE, TrainScene, load_train_scene, three_frames
from selfhdr_cli.nets.weights import load_weights, save_weights

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


def workdir_for(dataset: Path, work: Path | None) -> Workdir:
    root = Path(work) if work is not None else default_cache_root(dataset)
    if not root.parent.resolve().is_dir():
        raise UsageError("work folder's parent does not exist", root.parent)
    root.mkdir(exist_ok=True)
    return Workdir(root)


def ensure_color(dataset: Path, work: Workdir, color: ColorConfig, on_event: Event | None = None) -> list[Path]:
    """Build the colour cache of every scene that lacks one. Returns the scene folders."""
    scenes = find_scenes(dataset)
    missing = [s for s in scenes if not work.scene(s.name).is_complete()]
    for i, scene in enumerate(missing):
        if on_event:
            on_event(f"build-color {scene.name} ({i + 1}/{len(missing)})")
        build_color_scene(scene_frames(scene), work.scene(scene.name).folder, color)
    return scenes


def load_scenes(scenes: list[Path], work: Workdir, need_stru: bool) -> list[TrainScene]:
    return [load_train_scene(scene_frames(s), work.scene(s.name), need_stru) for s in scenes]


@dataclass
class ValidationSet:
    """A labelled dataset held in memory for PSNR-μ during training (ground truth read here only)."""

    names: list[str]
    ldr: list[np.ndarray]
    aligned: list[np.ndarray]
    times: list[np.ndarray]
    ground_truth: list[np.ndarray]
    color_psnr_mu: float
    response_text: str

    def score(self, net: nn.Module, device: torch.device) -> float:
        net.eval()
        response = parse_response(self.response_text)
        scores = []
        for ldr, al, t, gt in zip(self.ldr, self.aligned, self.times, self.ground_truth):
            pred = predict(net, ldr, al if getattr(net, "needs_alignment", False) else None, t, response,
                           TileConfig(tile=4096), device)
            scores.append(psnr(mu_law(pred), mu_law(gt)))
        return float(np.mean(scores))


def load_validation(dataset: Path, color: ColorConfig, limit: int | None = None) -> ValidationSet:
    """Frames, flow-aligned frames and ground truth of a labelled dataset; also Y_color's PSNR-μ."""
    from selfhdr_cli.evaluation.evaluate import labelled_scenes

    names, ldrs, aligns, times, gts, color_scores = [], [], [], [], [], []
    for scene in labelled_scenes(dataset)[:limit]:
        bracket = load_bracket(scene_frames(scene))
        pick = three_frames(len(bracket), bracket.reference)
        aligned = align_bracket(bracket.frames, bracket.times, bracket.reference, color.response, color.align)
        gt = read_hdr_image(scene / "HDRImg.hdr")
        y_color = merge_triangle(aligned, bracket.relative_times, bracket.reference, color.response)
        color_scores.append(psnr(mu_law(y_color), mu_law(gt)))
        names.append(scene.name)
        ldrs.append(np.stack([bracket.frames[i] for i in pick]))
        aligns.append(np.stack([aligned[i] for i in pick]))
        times.append(np.asarray([bracket.relative_times[i] for i in pick], np.float32))
        gts.append(gt)
    return ValidationSet(names, ldrs, aligns, times, gts, float(np.mean(color_scores)), str(color.response))


def write_structure_component(net: nn.Module, scenes: list[Path], work: Workdir, config: TrainConfig,
                              device: torch.device, on_event: Event | None = None) -> None:
    """Y_stru = f_s(aligned frames) at full resolution, stored as float32 EXR (SPEC §3)."""
    response = parse_response(config.response)
    for i, scene in enumerate(scenes):
        if on_event:
            on_event(f"Y_stru {scene.name} ({i + 1}/{len(scenes)})")
        s = load_train_scene(scene_frames(scene), work.scene(scene.name), need_stru=False)
        y_stru = predict(net, s.aligned, s.aligned if getattr(net, "needs_alignment", False) else None, s.times,
                         response, TileConfig(), device)
        write_hdr_image(work.scene(scene.name).folder / STRU_FILE, y_stru)


def _barrier(dist: Distributed) -> None:
    if dist.world > 1:
        import torch.distributed as tdist

        tdist.barrier()


def train_structure(dataset: Path, work: Workdir, config: TrainConfig, color: ColorConfig, device: torch.device,
                    dist: Distributed, resume: bool = False, force: bool = False,
                    validation: ValidationSet | None = None, on_step=None,
                    on_event: Event | None = None) -> StageResult | None:
    """Stage 1 and Y_stru for every scene. Skipped (None) when both exist and not ``force``."""
    scenes = find_scenes(dataset)
    have_stru = all((work.scene(s.name).folder / STRU_FILE).is_file() for s in scenes)
    if work.structure_weights.is_file() and have_stru and not force:
        if on_event and dist.is_main:
            on_event(f"stage 1: {work.structure_weights} and Y_stru exist, skipped")
        return None
    _check_checkpoint(work.structure_checkpoint, resume, force)
    if dist.is_main:
        ensure_color(dataset, work, color, on_event)
    _barrier(dist)
    result = None
    if work.structure_weights.is_file() and not force:
        net, _ = load_weights(work.structure_weights)
        net = net.to(device)
    else:
        scenes_mem = load_scenes(scenes, work, need_stru=False)
        validate = (lambda n: validation.score(n, device)) if validation else None
        result = run_stage("structure", scenes_mem, config, work.structure_checkpoint, resume=resume,
                           validate=validate, on_step=on_step, device=device, dist=dist)
        net = result.net
        if dist.is_main:
            save_weights(work.structure_weights, net, config.network,
                         {"stage": "structure", "steps": config.steps, "config": config.to_dict(),
                          "history": result.history})
            work.structure_checkpoint.unlink(missing_ok=True)  # a checkpoint means an unfinished run
    if dist.is_main:
        write_structure_component(net, scenes, work, config, device, on_event)
    _barrier(dist)
    return result


def train_reconstruction(dataset: Path, work: Workdir, config: TrainConfig, device: torch.device, dist: Distributed,
                         output: Path, resume: bool = False, force: bool = False,
                         validation: ValidationSet | None = None, on_step=None,
                         on_event: Event | None = None) -> StageResult:
    """Stage 2 on the unaligned frames with Y_color and Y_stru; writes the final weights."""
    _check_checkpoint(work.reconstruct_checkpoint, resume, force)
    scenes = find_scenes(dataset)
    scenes_mem = load_scenes(scenes, work, need_stru=True)
    validate = (lambda n: validation.score(n, device)) if validation else None
    result = run_stage("reconstruct", scenes_mem, config, work.reconstruct_checkpoint, resume=resume,
                       validate=validate, on_step=on_step, device=device, dist=dist)
    if dist.is_main:
        info = {"stage": "reconstruct", "steps": config.steps, "config": config.to_dict(), "history": result.history,
                "scenes": len(scenes), "dataset": str(dataset)}
        if validation is not None:
            info["val_color_psnr_mu"] = validation.color_psnr_mu
        save_weights(output, result.net, config.network, info)
        work.reconstruct_checkpoint.unlink(missing_ok=True)
    _barrier(dist)
    return result


def train_supervised(dataset: Path, work: Workdir, config: TrainConfig, color: ColorConfig, device: torch.device,
                     dist: Distributed, output: Path, resume: bool = False, force: bool = False,
                     validation: ValidationSet | None = None, on_step=None,
                     on_event: Event | None = None) -> StageResult:
    """The supervised upper bound: the same network, data and schedule, trained with L1 in
    μ-law against each scene's HDRImg.hdr. This is the one place ground truth is read."""
    checkpoint = work.root / "supervised.ckpt"
    _check_checkpoint(checkpoint, resume, force)
    if dist.is_main:
        ensure_color(dataset, work, color, on_event)
    _barrier(dist)
    scenes = find_scenes(dataset)
    missing = [s for s in scenes if not (s / "HDRImg.hdr").is_file()]
    if missing:
        raise UsageError("supervised training needs HDRImg.hdr in every scene", missing[0])
    mem = [load_train_scene(scene_frames(s), work.scene(s.name), need_stru=False, ground_truth=s / "HDRImg.hdr")
           for s in scenes]
    validate = (lambda n: validation.score(n, device)) if validation else None
    result = run_stage("supervised", mem, config, checkpoint, resume=resume, validate=validate, on_step=on_step,
                       device=device, dist=dist)
    if dist.is_main:
        save_weights(output, result.net, config.network,
                     {"stage": "supervised", "steps": config.steps, "config": config.to_dict(),
                      "history": result.history, "scenes": len(scenes), "dataset": str(dataset)})
        checkpoint.unlink(missing_ok=True)
    _barrier(dist)
    return result


def _check_checkpoint(path: Path, resume: bool, force: bool) -> None:
    if path.is_file() and not resume and not force:
        raise UsageError("a checkpoint of an unfinished run exists: pass --resume to continue it or --force "
                         "to start over", path)
    if path.is_file() and force and not resume:
        path.unlink()


