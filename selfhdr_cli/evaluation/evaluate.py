"""Scoring HDR predictions, or whole merge methods, over a labelled dataset (SPEC §6).

A labelled dataset is in the Kalantari layout with ``<scene>/HDRImg.hdr``; a
prediction folder holds ``<scene>.hdr`` or ``<scene>.exr``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from selfhdr_cli.errors import InputFileError, UsageError
from selfhdr_cli.evaluation.metrics import Scores, score_hdr
from selfhdr_cli.io.dataset import GROUND_TRUTH_FILE, labelled_scenes, scene_frames, scene_is_static
from selfhdr_cli.io.hdrfile import read_hdr_image
from selfhdr_cli.merge.bracket import load_bracket
from selfhdr_cli.merge.method import MergeConfig, merge_bracket

METRIC_NAMES = ("psnr_mu", "psnr_l", "ssim_mu", "ssim_l", "pu21_psnr")


@dataclass
class SceneResult:
    """One scene's scores; ``seconds`` is the merge time when a method was run."""

    scene: str
    scores: Scores
    static: bool | None = None
    seconds: float | None = None

    def as_dict(self) -> dict:
        return {"scene": self.scene, **self.scores.as_dict(), "static": self.static, "seconds": self.seconds}


def _ground_truth(scene: Path, shape: tuple[int, ...]) -> np.ndarray:
    gt = read_hdr_image(scene / GROUND_TRUTH_FILE)
    if gt.shape != shape:
        raise InputFileError(f"ground truth is {gt.shape[1]}x{gt.shape[0]}, prediction {shape[1]}x{shape[0]}",
                             scene / GROUND_TRUTH_FILE)
    return gt


def evaluate_predictions(pred_dir: Path, gt_root: Path,
                         progress: Callable[[str], None] | None = None) -> list[SceneResult]:
    """Score ``<pred_dir>/<scene>.(hdr|exr)`` against ``<gt_root>/<scene>/HDRImg.hdr``."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise UsageError("no such folder", pred_dir)
    scenes = labelled_scenes(gt_root)
    pairs = []
    for scene in scenes:
        found = [pred_dir / f"{scene.name}{ext}" for ext in (".exr", ".hdr") if (pred_dir / f"{scene.name}{ext}").is_file()]
        if not found:
            raise UsageError(f"no prediction for scene {scene.name} (expected {scene.name}.exr or .hdr)", pred_dir)
        pairs.append((scene, found[0]))
    results = []
    for scene, pred_path in pairs:
        pred = read_hdr_image(pred_path)
        try:
            scores = score_hdr(pred, _ground_truth(scene, pred.shape))
        except ValueError as exc:
            raise InputFileError(str(exc), pred_path) from None
        results.append(SceneResult(scene.name, scores, scene_is_static(scene)))
        if progress:
            progress(scene.name)
    return results


def evaluate_method(dataset: Path, config: MergeConfig,
                    progress: Callable[[str], None] | None = None) -> list[SceneResult]:
    """Merge every labelled scene of ``dataset`` with ``config`` (exposures from each scene's
    metadata) and score it against its ``HDRImg.hdr`` (SPEC §6). Returns one SceneResult per
    scene, with the merge's seconds."""
    results = []
    for scene in labelled_scenes(dataset):
        bracket = load_bracket(scene_frames(scene), config.bracket)
        started = time.perf_counter()
        pred = merge_bracket(bracket, config)
        seconds = time.perf_counter() - started
        results.append(SceneResult(scene.name, score_hdr(pred, _ground_truth(scene, pred.shape)),
                                   scene_is_static(scene), seconds))
        if progress:
            progress(scene.name)
    return results


def summarise(results: Iterable[SceneResult]) -> dict[str, dict[str, float]]:
    """Mean scores (and seconds) over all scenes, and over dynamic / static scenes when known."""
    results = list(results)
    groups = {"all": results,
              "dynamic": [r for r in results if r.static is False],
              "static": [r for r in results if r.static is True]}
    out = {}
    for name, group in groups.items():
        if not group or (name != "all" and len(group) == len(results)):
            continue
        row = {m: float(np.mean([getattr(r.scores, m) for r in group])) for m in METRIC_NAMES}
        secs = [r.seconds for r in group if r.seconds is not None]
        row["seconds"] = float(np.mean(secs)) if secs else None
        row["scenes"] = len(group)
        out[name] = row
    return out
