"""Commands for datasets: ``build-color``, ``synth``, ``evaluate``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from selfhdr_cli.cli.app import (
    BENCHMARK_PANEL,
    COLOR_MERGE_OPTION,
    CRF_OPTION,
    DEFAULT_CRF,
    EV_HELP,
    EXPOSURES_HELP,
    FLAG,
    FLOW_OPTION,
    MERGE_CRF_OPTION,
    NET_FLOW_HELP,
    REFERENCE_HELP,
    TRAIN_PANEL,
    WEIGHTS_HELP,
    Method,
    Split,
    _run_settings,
    _progress,
    app,
    err,
    fail,
)
from selfhdr_cli.errors import SelfHDRError, UsageError
from selfhdr_cli.io.atomic import check_writable_folder


@app.command("build-color", rich_help_panel=TRAIN_PANEL)
def build_color_cmd(
    source: List[Path] = typer.Argument(..., help="A dataset folder (one subfolder per scene, Kalantari layout), "
                                                  "one scene folder, or the frames of one bracket.",
                                        show_default=False, metavar="SOURCE"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="DIR",
                                       help="Where to write: for a dataset, one subfolder per scene (default "
                                            "<DATASET>.selfhdr beside it); for frames, the folder (required)."),
    exposures: Optional[str] = typer.Option(None, "--exposures", "-e", help=EXPOSURES_HELP, metavar="TIMES"),
    ev: Optional[str] = typer.Option(None, "--ev", help=EV_HELP, metavar="STOPS"),
    reference: Optional[str] = typer.Option(None, "--reference", "-r", help=REFERENCE_HELP, metavar="REF"),
    crf: str = CRF_OPTION,
    flow: Optional[str] = FLOW_OPTION,
    color_merge: Optional[str] = COLOR_MERGE_OPTION,
    force: bool = typer.Option(False, "--force", "-f", help="Rebuild scenes that are already built.", metavar=FLAG),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout.", metavar=FLAG),
) -> None:
    """Build each scene's color merge: its frames aligned by optical flow, then merged (by default) by signal-to-noise ratio.

    The color merge is the first training target: right colors, but ghosts where the flow failed. Per scene it writes y_color.exr (the color merge, float32, short-exposure units), aligned_K.exr (the frames warped onto the reference, in exposure order) and meta.json. Scenes already built are skipped unless --force; a bad scene is reported and the rest go on (exit 1). train runs this itself where it is missing.

    Example:
      [bold]selfhdr build-color mydata/ -o mydata.selfhdr/[/]
    """
    try:
        from selfhdr_cli.io.dataset import find_scenes, scene_frames
        from selfhdr_cli.training.caches import build_color_scene, default_cache_root

        settings, color_cfg = _run_settings(crf, flow, color_merge)
        missing = [p for p in source if not p.exists()]
        if missing:
            raise UsageError("no such file or folder", missing[0])
        if len(source) == 1 and source[0].is_dir():
            scenes = find_scenes(source[0])
            single = len(scenes) == 1 and scenes[0] == source[0]
            root = out if out is not None else default_cache_root(source[0])
            jobs = [(s.name, scene_frames(s), root if single else root / s.name) for s in scenes]
        else:
            if out is None:
                raise UsageError("--out is required when building from frame files")
            jobs = [(out.name, list(source), out)]
            root = out
        parent = root.resolve().parent
        if not parent.is_dir():
            raise UsageError("output folder's parent does not exist", parent)
        check_writable_folder(root if root.is_dir() else parent)
        created = not root.exists()
        root.mkdir(exist_ok=True)
    except SelfHDRError as exc:
        fail(exc)
        return
    except OSError as exc:
        fail(UsageError(f"cannot create output folder ({exc.strerror})", root))
        return

    results, failures = [], 0
    with _progress() as progress:
        task = progress.add_task("build-color", total=len(jobs))
        for name, frames, folder in jobs:
            progress.update(task, description=f"build-color {name}")
            started = time.perf_counter()
            try:
                status, why = build_color_scene(frames, folder, color_cfg, settings, force=force,
                                                exposures=exposures, ev=ev, reference=reference)
                error = None
                if status == "rebuilt":
                    err.print(f"scene {name}: cache was built with other settings ({why}), rebuilt", highlight=False,
                              soft_wrap=True)
            except SelfHDRError as exc:
                status, error = "failed", str(exc)
                failures += 1
                err.print(f"[bold red]selfhdr: error:[/] scene {name}: {exc}", highlight=False, soft_wrap=True)
            results.append({"scene": name, "status": status, "output": str(folder), "error": error,
                            "seconds": round(time.perf_counter() - started, 3)})
            progress.advance(task)
    if created and not any(root.iterdir()):  # nothing was built: leave no empty folder behind
        root.rmdir()
    built = sum(r["status"] in ("built", "rebuilt") for r in results)
    skipped = sum(r["status"] == "skipped" for r in results)
    err.print(f"build-color: {built} built, {skipped} skipped, {failures} failed → {root}", highlight=False)
    if json_out:
        sys.stdout.write(json.dumps({"output": str(root), "scenes": results}) + "\n")
    if failures:
        raise typer.Exit(1)


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size {text!r}: use WIDTHxHEIGHT, e.g. 512x384") from None
    if not (32 <= w <= 8192 and 32 <= h <= 8192):
        raise UsageError(f"--size {text!r}: each side must be 32..8192 pixels")
    return h, w


@app.command(rich_help_panel=BENCHMARK_PANEL)
def synth(
    hdr_dir: Path = typer.Argument(..., help="Folder of real HDR radiance maps (.hdr/.exr).", show_default=False,
                                   metavar="HDR_DIR"),
    out_dir: Path = typer.Argument(..., help="Dataset folder to write (Kalantari layout).", show_default=False,
                                   metavar="OUT_DIR"),
    scenes: int = typer.Option(10, "--scenes", "-n", min=1, max=100000, metavar="N", help="Number of scenes."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same scenes, bit for bit.",
                      metavar="N"),
    split: Split = typer.Option(Split.all, "--split", metavar="SPLIT",
                                help="Which radiance maps to use (three disjoint splits): [bold]train[/] (training data), "
                                     "[bold]val[/] (every decision is made here), [bold]benchmark[/] (the final "
                                     "table only; [bold]test[/] is an old name for it), or [bold]all[/]."),
    size: str = typer.Option("512x384", "--size", help="Frame size.", metavar="WIDTHxHEIGHT"),
    ev_step: float = typer.Option(2.0, "--ev-step", metavar="STOPS",
                                 help="Stops between frames (2 or 3 typical); EV 0, s, 2s."),
    bits: int = typer.Option(16, "--bits", help="Frame bit depth: 16 or 8.", metavar="N"),
    crf: str = CRF_OPTION,
    static: bool = typer.Option(False, "--static", help="Motion-free scenes (no objects, no camera motion).",
                                metavar=FLAG),
    nonrigid: float = typer.Option(0.0, "--nonrigid", metavar="PX", help="Mild non-rigid background motion, in pixels "
                                                          "(e.g. 1.5); 0 = none."),
    noise: float = typer.Option(1.0, "--noise", min=0.0, max=20.0, metavar="FACTOR",
                                help="Sensor noise, × the default camera's standard deviation (shot and read)."),
    motion: float = typer.Option(1.0, "--motion", min=0.0, max=5.0, metavar="FACTOR",
                                 help="Object and camera motion, × the default (objects 10-60 px, camera 3 px, 1°)."),
    camera: str = typer.Option("ideal", "--camera", metavar="CAMERA",
                               help="[bold]ideal[/] (default): the sensor as --crf, --bits and --noise say. "
                                    "[bold]realistic[/]: per scene a camera's own tone curve (per channel, toe "
                                    "and shoulder, no gamma), 8-bit frames through JPEG at quality 80-95, handheld "
                                    "motion up to 50 px and 3 degrees with parallax (in place of --motion's "
                                    "camera part): what real camera brackets look like."),
    prefix: str = typer.Option("scene_", "--prefix", metavar="PREFIX",
                               help="Scene folder names: PREFIX + 3-digit index."),
    force: bool = typer.Option(False, "--force", "-f", help="Rewrite scenes that already exist.", metavar=FLAG),
) -> None:
    """Synthesise labelled dynamic 3-exposure brackets from real radiance maps.

    Each scene gets frame_0..2.tif, exposure.txt (EV), HDRImg.hdr (ground truth in short-exposure units, aligned to the reference) and scene.json. Objects cut from other maps with soft masks move 10-60 px between frames over a small camera motion; noise is Poisson-Gaussian. Training never reads HDRImg.hdr.

    Example:
      [bold]selfhdr synth ../shared/data/hdr bench --split benchmark -n 24 --seed 2024[/]
    """
    try:
        from selfhdr_cli.evaluation.synth import (
            SPLIT_ALIASES,
            RealisticCamera,
            SceneConfig,
            SensorConfig,
            radiance_maps,
            synthesise,
        )
        from selfhdr_cli.io.dataset import SCENE_META, write_scene
        from selfhdr_cli.io.hdrfile import read_hdr_image
        from selfhdr_cli.radiometry.response import parse_response

        if not prefix or "/" in prefix or "\\" in prefix or prefix in (".", ".."):
            raise UsageError(f"--prefix {prefix!r}: scene folders are named inside OUT_DIR (no / or ..)")
        if bits not in (8, 16):
            raise UsageError("--bits must be 8 or 16")
        if camera not in ("ideal", "realistic"):
            raise UsageError(f"--camera {camera!r}: use ideal or realistic")
        if camera == "realistic" and (bits != 16 or crf != DEFAULT_CRF):
            raise UsageError("--camera realistic draws its own response and writes 8-bit frames through JPEG: "
                             "leave --bits and --crf out")
        if not 0.5 <= ev_step <= 6:
            raise UsageError("--ev-step must be between 0.5 and 6 stops")
        shape = _parse_size(size)
        base = SensorConfig()
        defaults = SceneConfig()
        config = SceneConfig(size=shape, ev_step=ev_step, static=static, nonrigid_px=nonrigid,
                             motion_px=(defaults.motion_px[0] * motion, defaults.motion_px[1] * motion),
                             camera_shift_px=defaults.camera_shift_px * motion,
                             camera_degrees=defaults.camera_degrees * motion,
                             sensor=SensorConfig(response=parse_response(crf), bits=bits, shot=base.shot * noise ** 2,
                                                 read=base.read * noise),
                             camera=RealisticCamera() if camera == "realistic" else None)
        map_paths = radiance_maps(hdr_dir, split.value)
        if not out_dir.parent.resolve().is_dir():
            raise UsageError("output folder's parent does not exist", out_dir.parent)
        check_writable_folder(out_dir if out_dir.is_dir() else out_dir.parent)  # before decoding 30 radiance maps
        out_dir.mkdir(exist_ok=True)
        maps = [read_hdr_image(p) for p in map_paths]
    except SelfHDRError as exc:
        fail(exc)
        return
    written = skipped = 0
    with _progress() as progress:
        task = progress.add_task("synth", total=scenes)
        for i in range(scenes):
            folder = out_dir / f"{prefix}{i:03d}"
            if (folder / SCENE_META).is_file() and not force:
                skipped += 1
            else:
                scene, bg = synthesise(maps, i, seed, config)
                meta = {"index": i, "seed": seed, "split": SPLIT_ALIASES.get(split.value, split.value), "background": map_paths[bg].name,
                        "objects": [map_paths[k].name for k in scene.object_sources], "static": static,
                        "ev_stops": scene.ev_stops, "reference": scene.reference, "size": [shape[1], shape[0]],
                        "bits": scene.sensor.bits, "camera": camera, "jpeg_quality": scene.sensor.jpeg_quality,
                        "response": crf if camera == "ideal" else scene.sensor.response.identity,
                        "nonrigid_px": nonrigid,
                        "moving_fraction": round(float(scene.moving.mean()), 4),
                        "saturated_ref": round(scene.saturated_share, 4), "dark_ref": round(scene.dark_share, 4),
                        "units": "short-exposure"}
                write_scene(folder, scene.frames, scene.ev_stops, scene.ground_truth, meta, scene.sensor.bits)
                written += 1
            progress.advance(task)
    err.print(f"synth: {written} written, {skipped} already there → {out_dir}", highlight=False)


def _print_results(results, summary, label: str, json_out: bool, csv_out: bool) -> None:
    from rich.table import Table

    from selfhdr_cli.evaluation.evaluate import METRIC_NAMES

    if json_out:
        sys.stdout.write(json.dumps({"label": label, "scenes": [r.as_dict() for r in results],
                                     "mean": summary}) + "\n")
    elif csv_out:
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(["scene", *METRIC_NAMES, "static", "seconds"])
        for r in results:
            d = r.as_dict()
            writer.writerow([d["scene"], *(f"{d[m]:.6f}" for m in METRIC_NAMES), d["static"],
                             "" if d["seconds"] is None else f"{d['seconds']:.4f}"])
    table = Table(title=f"selfhdr evaluate — {label}", title_justify="left",
                  caption="* PU21-PSNR: perceptual extra, H = 1 shown at 1000 cd/m² (not one of the paper's metrics)",
                  caption_justify="left")
    table.add_column("scene")
    for name in ("PSNR-μ", "PSNR-l", "SSIM-μ", "SSIM-l", "PU21-PSNR*", "s"):
        table.add_column(name, justify="right")

    def row(name, values, style=None):
        secs = values.get("seconds")
        table.add_row(name, f"{values['psnr_mu']:.2f}", f"{values['psnr_l']:.2f}", f"{values['ssim_mu']:.4f}",
                      f"{values['ssim_l']:.4f}", f"{values['pu21_psnr']:.2f}", "" if secs is None else f"{secs:.2f}",
                      style=style)

    for r in results:
        row(r.scene, r.as_dict())
    table.add_section()
    for group, values in summary.items():
        row(f"mean ({group}, {values['scenes']})", values, style="bold")
    Console(stderr=json_out or csv_out).print(table)


@app.command(rich_help_panel=BENCHMARK_PANEL)
def evaluate(
    source: Path = typer.Argument(..., help="PRED_DIR of <scene>.exr/.hdr files, or with --method a labelled "
                                            "DATASET.", show_default=False, metavar="PRED_DIR|DATASET"),
    gt_dir: Optional[Path] = typer.Argument(None, help="Labelled dataset: <scene>/HDRImg.hdr.",
                                            show_default=False, metavar="GT_DIR"),
    method: Optional[Method] = typer.Option(None, "--method", "-m", metavar="METHOD",
                                            help="Merge every scene of DATASET with this method (net, color, "
                                                 "debevec, ref: see 'selfhdr merge --help') and score it, with "
                                                 "seconds per scene."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help=WEIGHTS_HELP + " With --method net.",
                                           metavar="FILE"),
    crf: str = MERGE_CRF_OPTION,
    flow: Optional[str] = typer.Option(None, "--flow", help=NET_FLOW_HELP, show_default=False, metavar="FLOW"),
    color_merge: Optional[str] = COLOR_MERGE_OPTION,
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout (the table goes to stderr).", metavar=FLAG),
    csv_out: bool = typer.Option(False, "--csv", help="CSV on stdout (the table goes to stderr).", metavar=FLAG),
) -> None:
    """Score HDR images against ground truth: PSNR and SSIM, tone-mapped (μ-law) and linear, plus PU21-PSNR.

    [bold]selfhdr evaluate PRED_DIR GT_DIR[/] scores existing files; [bold]selfhdr evaluate DATASET --method color[/] merges every scene and scores it. PSNR-μ and SSIM-μ are computed after the μ-law tone curve (μ = 5000), PSNR-l and SSIM-l on linear values. Means are given over all scenes and, for synthesised data, over dynamic and static scenes.
    """
    try:
        from selfhdr_cli.evaluation.evaluate import evaluate_method, evaluate_predictions, summarise
        from selfhdr_cli.io.dataset import labelled_scenes
        from selfhdr_cli.merge.method import MergeConfig

        if json_out and csv_out:
            raise UsageError("give --json or --csv, not both")
        if source.is_file():
            raise UsageError("is a file: evaluate scores a folder of predictions (<scene>.exr) against GT_DIR, "
                             "or a labelled DATASET folder with --method", source)
        if not source.exists():
            raise UsageError("no such folder", source)
        if method is None and gt_dir is None:
            raise UsageError("give GT_DIR to score predictions, or --method to run a method over a dataset")
        if method is not None and gt_dir is not None:
            raise UsageError("--method runs over one labelled dataset: give DATASET alone")
        total = len(labelled_scenes(gt_dir if method is None else source))
        with _progress() as progress:
            task = progress.add_task("evaluate", total=total)
            advance = lambda _name: progress.advance(task)  # noqa: E731
            if method is None:
                results = evaluate_predictions(source, gt_dir, advance)
                label = str(source)
            else:
                settings, color_cfg = _run_settings(crf, flow, color_merge, allow_auto=True)
                if weights is not None and method != Method.net:
                    raise UsageError(f"--weights applies to --method net only, not {method.value}")
                weights_path = None
                if method == Method.net:
                    from selfhdr_cli.merge.device import configure_cpu
                    from selfhdr_cli.merge.engine import resolve_network

                    weights_path, engine = resolve_network(weights)
                    configure_cpu(torch_settings=engine == "torch")  # the process's own settings, once
                cfg = MergeConfig(method=method.value, bracket=settings,
                                  align=color_cfg.align if flow else None, weights=weights_path,
                                  color_merge=color_merge)
                results = evaluate_method(source, cfg, advance)
                label = f"{method.value} on {source}" + (f" ({Path(weights_path).name})" if weights_path else "")
        _print_results(results, summarise(results), label, json_out, csv_out)
    except SelfHDRError as exc:
        fail(exc)

