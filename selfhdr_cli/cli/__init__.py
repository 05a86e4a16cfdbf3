"""The ``selfhdr`` command: parse arguments, call the core, render results.

stdout carries only machine-readable results (``--json``); progress and messages go
to stderr. Bad input is one line on stderr and a non-zero exit (2 for usage errors).
"""

from __future__ import annotations

import json
import sys
import time
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from selfhdr_cli.errors import SelfHDRError, UsageError

app = typer.Typer(
    name="selfhdr",
    help="Merge exposure brackets of moving scenes into ghost-free HDR images (SelfHDR, ICLR 2024).\n\n"
         "HDR values are in short-exposure units: g(I)/t with the shortest frame at t = 1, so a "
         "pixel that just saturates the shortest frame has value 1.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err = Console(stderr=True)


class Method(str, Enum):
    net = "net"
    color = "color"
    debevec = "debevec"
    ref = "ref"


class Network(str, Enum):
    fastnet = "fastnet"
    ahdrnet = "ahdrnet"


class Preset(str, Enum):
    cpu = "cpu"
    gpu = "gpu"
    tiny = "tiny"


class Split(str, Enum):
    train = "train"
    val = "val"
    benchmark = "benchmark"
    test = "test"
    all = "all"


class Units(str, Enum):
    short = "short"
    seconds = "seconds"


EXPOSURES_HELP = ("Exposure times in seconds, one per frame in the order given: [bold]1/60,1/15,1/4[/] or "
                  "decimals. Wins over every other source.")
EV_HELP = "Exposure in stops, one per frame in the order given: [bold]-2,0,2[/] (t = 2^EV)."
REFERENCE_HELP = ("Reference frame whose geometry the output keeps: an index in exposure order "
                  "(0 = shortest) or a file name. Default: the middle one.")
CRF_HELP = "Camera response g: [bold]gamma:2.2[/] (default), [bold]srgb[/] or [bold]linear[/]."
WEIGHTS_HELP = "Network weights (.safetensors from 'selfhdr train'). Default: the shipped weights."
TILE_HELP = ("Tile size in pixels for network inference, so memory stays bounded (overlap is automatic); "
             "0 = automatic: one pass up to about 2.4 MP, else 768 px tiles.")
DEVICE_HELP = "auto (CUDA if available, else CPU), cpu, cuda or cuda:N."
DEFAULT_FLOW = "dis-fine"  # align.DEFAULT_FLOW, repeated so that --help does not import the core
FLOW_HELP = ("Optical flow for alignment: dis-fine (default, chosen on the validation split by "
             "benchmarks/flow_choice.py), dis-medium, dis-fast, dis-ultrafast, farneback.")


def fail(exc: SelfHDRError) -> None:
    err.print(f"[bold red]selfhdr: error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _color_config(crf: str, flow: str):
    from selfhdr_cli.merge.align import FLOW_METHODS, AlignConfig
    from selfhdr_cli.merge.colour import ColorConfig
    from selfhdr_cli.radiometry.response import parse_response

    if flow not in FLOW_METHODS:
        raise UsageError(f"--flow {flow!r}: choose one of {', '.join(FLOW_METHODS)}")
    return ColorConfig(response=parse_response(crf), align=AlignConfig(flow=flow))


class Tonemap(str, Enum):
    reinhard = "reinhard"
    mu_law = "mu-law"
    gamma = "gamma"


def _render_plan(plan, json_out: bool) -> None:
    from rich.table import Table

    from selfhdr_cli.io.frames import bit_depth

    if json_out:
        sys.stdout.write(json.dumps({
            "frames": [str(p) for p in plan.paths], "exposure_times": [float(t) for t in plan.times],
            "absolute_times": plan.absolute, "exposure_source": plan.exposure_source, "reference": plan.reference,
            "size": [int(plan.size[1]), int(plan.size[0])], "bit_depth": [bit_depth(p) for p in plan.paths]}) + "\n")
        return
    unit = "s" if plan.absolute else "× shortest"
    table = Table(title=f"{len(plan.paths)} frames, {plan.size[1]}x{plan.size[0]}, exposures from "
                        f"{plan.exposure_source}", title_justify="left")
    for col in ("#", "frame", f"exposure ({unit})", "EV", "depth", ""):
        table.add_column(col)
    times = plan.times if plan.absolute else plan.times / plan.times[0]
    import math

    for i, (p, t) in enumerate(zip(plan.paths, times)):
        ev = math.log2(plan.times[i] / plan.times[plan.reference])
        table.add_row(str(i), str(p), f"1/{1 / t:.4g}" if plan.absolute and t < 1 else f"{t:.4g}", f"{ev:+.2f}",
                      bit_depth(p), "reference" if i == plan.reference else "")
    Console().print(table)


@app.command()
def merge(
    frames: Optional[List[Path]] = typer.Argument(None, help="LDR frames of one bracket (8/16-bit TIFF, PNG, JPEG, "
                                                             "float TIFF), in any order.", show_default=False),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="HDR file to write: [bold].exr[/] (float32) or [bold].hdr[/] "
                                               "(Radiance RGBE). With --batch: the output folder.",
                                          show_default=False),
    exposures: Optional[str] = typer.Option(None, "--exposures", "-e", help=EXPOSURES_HELP),
    ev: Optional[str] = typer.Option(None, "--ev", help=EV_HELP),
    method: Method = typer.Option(Method.net, "--method", "-m",
                                  help="[bold]net[/]: the trained SelfHDR network (--weights; default). "
                                       "[bold]color[/]: align with optical flow, then SelfHDR's fixed-weight "
                                       "merge. [bold]debevec[/]: classical hat-weighted merge, no alignment "
                                       "(ghosts on motion; a baseline). [bold]ref[/]: the reference frame alone, "
                                       "linearised."),
    reference: Optional[str] = typer.Option(None, "--reference", "-r", help=REFERENCE_HELP),
    crf: str = typer.Option("gamma:2.2", "--crf", help=CRF_HELP),
    flow: str = typer.Option(DEFAULT_FLOW, "--flow", help=FLOW_HELP),
    units: Units = typer.Option(Units.short, "--units",
                                help="[bold]short[/]: short-exposure units (shortest frame at t = 1). "
                                     "[bold]seconds[/]: radiance per second of exposure (needs times in "
                                     "seconds)."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help=WEIGHTS_HELP),
    tile: int = typer.Option(0, "--tile", min=0, max=8192, help=TILE_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    half: bool = typer.Option(False, "--half", help="Write .exr as float16 instead of float32."),
    preview: Optional[Path] = typer.Option(None, "--preview", "-p",
                                           help="Also write a tone-mapped 8-bit PNG preview (automatic exposure)."),
    tonemap_op: Tonemap = typer.Option(Tonemap.reinhard, "--tonemap",
                                       help="Preview operator: reinhard (Reinhard 2002 global), mu-law, gamma."),
    batch: Optional[Path] = typer.Option(None, "--batch",
                                         help="Merge every bracket under this folder (one subfolder per bracket, "
                                              "or a flat folder with --group-size / --time-gap) into -o OUT_DIR."),
    group_size: Optional[int] = typer.Option(None, "--group-size", help="--batch: N consecutive frames per bracket."),
    time_gap: Optional[float] = typer.Option(None, "--time-gap",
                                             help="--batch: start a new bracket where EXIF capture times jump "
                                                  "by more than this many seconds."),
    pattern: str = typer.Option("{name}.exr", "--pattern", help="--batch: output name; {name} is the bracket's."),
    previews: bool = typer.Option(False, "--previews", help="--batch: also write {name}.png previews."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=64,
                             help="--batch: brackets merged in parallel (cores are shared, never oversubscribed)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be merged, and merge nothing."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing outputs."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Merge one bracket, or a folder of brackets, into HDR images.

    Exposure times come from, in order: --exposures, --ev, an exposure.txt beside the frames (one EV per line, in file-name order), EXIF ExposureTime. Frames are sorted by exposure; the middle one is the reference.

    Examples: [bold]selfhdr merge img_*.tif --ev -2,0,2 -o out.exr --preview out.png[/]   [bold]selfhdr merge --batch shoot/ -o hdr/ --group-size 3 --jobs 2 --json[/]
    """
    from selfhdr_cli.merge.batch import BracketJob, MergeSettings, merge_to_files

    settings = MergeSettings(method=method.value, exposures=exposures, ev=ev, reference=reference, crf=crf,
                             flow=flow, units=units.value, weights=str(weights) if weights else None, tile=tile,
                             device=device, half=half, tonemap=tonemap_op.value, force=force)
    if batch is not None:
        _merge_batch(batch, output, settings, group_size, time_gap, pattern, previews, jobs, dry_run, json_out,
                     frames)
        return
    try:
        if not frames:
            raise UsageError("give the frames of a bracket, or --batch FOLDER")
        if output is None and not dry_run:
            raise UsageError("missing -o/--output: the HDR file to write (.exr or .hdr)")
        if dry_run:
            from selfhdr_cli.merge.bracket import plan_bracket

            _render_plan(plan_bracket(frames, exposures=exposures, ev=ev, reference=reference), json_out)
            return
        with _progress() as progress:
            task = progress.add_task(f"merge ({method.value})", total=None)
            tick = lambda done, total: progress.update(task, completed=done, total=total)  # noqa: E731
            result = merge_to_files(BracketJob(output.stem, list(frames), output, preview), settings, tick)
        err.print(f"Wrote {output} ({result.size[0]}x{result.size[1]}, {method.value}) in {result.seconds:.2f} s",
                  highlight=False)
        if json_out:
            summary = {**result.as_dict(), "preview": str(preview) if preview else None, "method": method.value,
                       "frames": result.inputs, "units": units.value}
            sys.stdout.write(json.dumps(summary) + "\n")
    except SelfHDRError as exc:
        fail(exc)


def _merge_batch(in_dir: Path, out_dir: Optional[Path], settings, group_size, time_gap, pattern, previews, jobs,
                 dry_run, json_out, frames) -> None:
    from selfhdr_cli.merge.batch import find_brackets, plan_jobs, run_batch

    try:
        if frames:
            raise UsageError("give either frames or --batch FOLDER, not both")
        if out_dir is None:
            raise UsageError("--batch needs -o OUT_DIR, the folder to write into")
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError("--batch output must be a folder", out_dir)
        if not out_dir.parent.resolve().is_dir():
            raise UsageError("output folder's parent does not exist", out_dir.parent)
        brackets = find_brackets(in_dir, group_size, time_gap)
        job_list = plan_jobs(brackets, out_dir, pattern, previews)
        if dry_run:
            from selfhdr_cli.merge.bracket import plan_bracket

            rows = []
            for job in job_list:
                try:
                    plan = plan_bracket(job.frames, settings.exposures, settings.ev, settings.reference)
                    rows.append({"name": job.name, "frames": [str(p) for p in plan.paths],
                                 "exposure_times": [float(t) for t in plan.times],
                                 "exposure_source": plan.exposure_source, "reference": plan.reference,
                                 "output": str(job.output), "exists": job.output.exists(), "error": None})
                except SelfHDRError as exc:
                    rows.append({"name": job.name, "frames": [str(p) for p in job.frames], "output": str(job.output),
                                 "error": str(exc)})
            if json_out:
                sys.stdout.write(json.dumps({"brackets": rows}) + "\n")
            else:
                for r in rows:
                    state = f"error: {r['error']}" if r["error"] else ("exists, skipped" if r["exists"] else "to merge")
                    Console().print(f"{r['name']}: {len(r['frames'])} frames → {r['output']} ({state})",
                                    highlight=False)
            return
        out_dir.mkdir(exist_ok=True)
    except SelfHDRError as exc:
        fail(exc)
        return
    results, started = [], time.perf_counter()
    with _progress() as progress:
        task = progress.add_task(f"batch ({settings.method})", total=len(job_list))
        for result in run_batch(job_list, settings, jobs):
            results.append(result)
            if result.status == "failed":
                err.print(f"[bold red]selfhdr: error:[/] bracket {result.name}: {result.error}", highlight=False,
                          soft_wrap=True)
            progress.advance(task)
    counts = {s: sum(r.status == s for r in results) for s in ("merged", "skipped", "failed")}
    err.print(f"batch: {counts['merged']} merged, {counts['skipped']} skipped, {counts['failed']} failed in "
              f"{time.perf_counter() - started:.1f} s → {out_dir}", highlight=False)
    if json_out:
        order = {job.name: i for i, job in enumerate(job_list)}
        rows = [r.as_dict() for r in sorted(results, key=lambda r: order[r.name])]
        sys.stdout.write(json.dumps({"output": str(out_dir), "method": settings.method, **counts,
                                     "brackets": rows}) + "\n")
    if counts["failed"]:
        raise typer.Exit(1)


@app.command()
def info(
    frames: List[Path] = typer.Argument(..., help="The frames of a bracket, or one scene folder.", show_default=False),
    exposures: Optional[str] = typer.Option(None, "--exposures", "-e", help=EXPOSURES_HELP),
    ev: Optional[str] = typer.Option(None, "--ev", help=EV_HELP),
    reference: Optional[str] = typer.Option(None, "--reference", "-r", help=REFERENCE_HELP),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """What would be merged: frames in exposure order, exposure times and their source, reference, size, bit depth."""
    try:
        from selfhdr_cli.merge.bracket import plan_bracket
        from selfhdr_cli.io.dataset import scene_frames

        paths = scene_frames(frames[0]) if len(frames) == 1 and frames[0].is_dir() else list(frames)
        _render_plan(plan_bracket(paths, exposures=exposures, ev=ev, reference=reference), json_out)
    except SelfHDRError as exc:
        fail(exc)


@app.command("tonemap")
def tonemap_cmd(
    source: Path = typer.Argument(..., help="HDR image (.exr or .hdr).", show_default=False),
    output: Path = typer.Argument(..., help="8-bit PNG to write.", show_default=False),
    operator: Tonemap = typer.Option(Tonemap.reinhard, "--op", help="reinhard (Reinhard 2002 global), mu-law, gamma."),
    stops: float = typer.Option(0.0, "--exposure", help="Extra exposure in stops on top of the automatic one."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing PNG."),
) -> None:
    """Tone-map an existing HDR file to an 8-bit PNG, with automatic exposure."""
    try:
        from selfhdr_cli.io.atomic import check_output_path
        from selfhdr_cli.io.hdrfile import read_hdr_image, write_png
        from selfhdr_cli.radiometry.tonemap import tonemap

        check_output_path(output, force, (".png",))
        write_png(output, tonemap(read_hdr_image(source), operator.value, stops))
        err.print(f"Wrote {output}", highlight=False)
    except SelfHDRError as exc:
        fail(exc)


@app.command("build-color")
def build_color_cmd(
    source: List[Path] = typer.Argument(..., help="A dataset folder (one subfolder per scene, Kalantari "
                                                  "layout), one scene folder, or the frames of one bracket.",
                                        show_default=False),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Where to write. Dataset: one subfolder per scene (default "
                                            "<DATASET>.selfhdr beside it). Frames: the folder to write."),
    exposures: Optional[str] = typer.Option(None, "--exposures", "-e", help=EXPOSURES_HELP),
    ev: Optional[str] = typer.Option(None, "--ev", help=EV_HELP),
    reference: Optional[str] = typer.Option(None, "--reference", "-r", help=REFERENCE_HELP),
    crf: str = typer.Option("gamma:2.2", "--crf", help=CRF_HELP),
    flow: str = typer.Option(DEFAULT_FLOW, "--flow", help=FLOW_HELP),
    force: bool = typer.Option(False, "--force", "-f", help="Rebuild scenes that are already built."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Build the colour component Y_color (SPEC §2) and the aligned frames.

    Per scene it writes y_color.exr (float32, short-exposure units), aligned_K.exr (the frames warped onto the reference, exposure order) and meta.json. Scenes already built are skipped unless --force. A bad scene is reported and the rest go on (exit 1).

    Example: [bold]selfhdr build-color mydata/ -o mydata.selfhdr/[/]
    """
    try:
        from selfhdr_cli.io.dataset import build_color_scene, default_cache_root, find_scenes, scene_frames

        color_cfg = _color_config(crf, flow)
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
                status = build_color_scene(frames, folder, color_cfg, force=force, exposures=exposures, ev=ev,
                                           reference=reference)
                error = None
            except SelfHDRError as exc:
                status, error = "failed", str(exc)
                failures += 1
                err.print(f"[bold red]selfhdr: error:[/] scene {name}: {exc}", highlight=False, soft_wrap=True)
            results.append({"scene": name, "status": status, "output": str(folder), "error": error,
                            "seconds": round(time.perf_counter() - started, 3)})
            progress.advance(task)
    built = sum(r["status"] == "built" for r in results)
    skipped = sum(r["status"] == "skipped" for r in results)
    err.print(f"build-color: {built} built, {skipped} skipped, {failures} failed → {root}", highlight=False)
    if json_out:
        sys.stdout.write(json.dumps({"output": str(root), "scenes": results}) + "\n")
    if failures:
        raise typer.Exit(1)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True)


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size {text!r}: use WIDTHxHEIGHT, e.g. 512x384") from None
    if not (32 <= w <= 8192 and 32 <= h <= 8192):
        raise UsageError(f"--size {text!r}: each side must be 32..8192 pixels")
    return h, w


@app.command()
def synth(
    hdr_dir: Path = typer.Argument(..., help="Folder of real HDR radiance maps (.hdr/.exr).", show_default=False),
    out_dir: Path = typer.Argument(..., help="Dataset folder to write (Kalantari layout).", show_default=False),
    scenes: int = typer.Option(10, "--scenes", "-n", min=1, max=100000, help="Number of scenes."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same scenes, bit for bit."),
    split: Split = typer.Option(Split.all, "--split",
                                help="Which radiance maps to use (three disjoint splits): [bold]train[/] (training data), "
                                     "[bold]val[/] (every decision is made here), [bold]benchmark[/] (the final "
                                     "table only; [bold]test[/] is an old name for it), or [bold]all[/]."),
    size: str = typer.Option("512x384", "--size", help="Frame size WIDTHxHEIGHT."),
    ev_step: float = typer.Option(2.0, "--ev-step", help="Stops between frames (2 or 3 typical); EV 0, s, 2s."),
    bits: int = typer.Option(16, "--bits", help="Frame bit depth: 16 or 8."),
    crf: str = typer.Option("gamma:2.2", "--crf", help=CRF_HELP),
    static: bool = typer.Option(False, "--static", help="Motion-free scenes (no objects, no camera motion)."),
    nonrigid: float = typer.Option(0.0, "--nonrigid", help="Mild non-rigid background motion, in pixels "
                                                          "(e.g. 1.5); 0 = none."),
    prefix: str = typer.Option("scene_", "--prefix", help="Scene folder names: PREFIX + 3-digit index."),
    force: bool = typer.Option(False, "--force", "-f", help="Rewrite scenes that already exist."),
) -> None:
    """Synthesise labelled dynamic 3-exposure brackets from real radiance maps.

    Each scene gets frame_0..2.tif, exposure.txt (EV), HDRImg.hdr (ground truth in short-exposure units, aligned to the reference) and scene.json. Objects cut from other maps with soft masks move 10-60 px between frames over a small camera motion; noise is Poisson-Gaussian. Training never reads HDRImg.hdr.

    Example: [bold]selfhdr synth ../shared/data/hdr bench --split benchmark --scenes 24 --seed 2024[/]
    """
    try:
        from selfhdr_cli.io.dataset import SCENE_META, write_scene
        from selfhdr_cli.io.hdrfile import read_hdr_image
        from selfhdr_cli.radiometry.response import parse_response
        from selfhdr_cli.evaluation.synth import SPLIT_ALIASES, SceneConfig, SensorConfig, radiance_maps, synthesise

        if bits not in (8, 16):
            raise UsageError("--bits must be 8 or 16")
        if not 0.5 <= ev_step <= 6:
            raise UsageError("--ev-step must be between 0.5 and 6 stops")
        shape = _parse_size(size)
        config = SceneConfig(size=shape, ev_step=ev_step, static=static, nonrigid_px=nonrigid,
                             sensor=SensorConfig(response=parse_response(crf), bits=bits))
        map_paths = radiance_maps(hdr_dir, split.value)
        if not out_dir.parent.resolve().is_dir():
            raise UsageError("output folder's parent does not exist", out_dir.parent)
        maps = [read_hdr_image(p) for p in map_paths]
        out_dir.mkdir(exist_ok=True)
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
                        "bits": bits, "response": crf, "nonrigid_px": nonrigid,
                        "moving_fraction": round(float(scene.moving.mean()), 4),
                        "saturated_ref": round(scene.saturated_share, 4), "dark_ref": round(scene.dark_share, 4),
                        "units": "short-exposure"}
                write_scene(folder, scene.frames, scene.ev_stops, scene.ground_truth, meta, bits)
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
                  caption="* PU21-PSNR: perceptual extra, H = 1 shown at 1000 cd/m² (not SPEC §6)",
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


@app.command()
def evaluate(
    source: Path = typer.Argument(..., help="PRED_DIR of <scene>.exr/.hdr files, or with --method a labelled "
                                            "DATASET.", show_default=False),
    gt_dir: Optional[Path] = typer.Argument(None, help="GT_DIR: labelled dataset, <scene>/HDRImg.hdr.",
                                            show_default=False),
    method: Optional[Method] = typer.Option(None, "--method", "-m",
                                            help="Run this merge method over DATASET and score it in one go."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help=WEIGHTS_HELP + " With --method net."),
    crf: str = typer.Option("gamma:2.2", "--crf", help=CRF_HELP),
    flow: str = typer.Option(DEFAULT_FLOW, "--flow", help=FLOW_HELP),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout (the table goes to stderr)."),
    csv_out: bool = typer.Option(False, "--csv", help="CSV on stdout (the table goes to stderr)."),
) -> None:
    """Score HDR predictions against ground truth: PSNR-μ, PSNR-l, SSIM-μ, SSIM-l (SPEC §6), plus PU21-PSNR.

    [bold]selfhdr evaluate PRED_DIR GT_DIR[/] scores existing files; [bold]selfhdr evaluate DATASET --method color[/] merges every scene and scores it, with seconds per scene. Means are given over all scenes and, for synthesised data, over dynamic and static scenes.
    """
    try:
        from selfhdr_cli.evaluation.evaluate import evaluate_method, evaluate_predictions, labelled_scenes, summarise
        from selfhdr_cli.merge.method import MergeConfig

        if json_out and csv_out:
            raise UsageError("give --json or --csv, not both")
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
                color_cfg = _color_config(crf, flow)
                weights_path = None
                if method == Method.net:
                    from selfhdr_cli.nets.weights import resolve_weights

                    weights_path = resolve_weights(weights)
                cfg = MergeConfig(method=method.value, response=color_cfg.response, color=color_cfg,
                                  weights=weights_path)
                results = evaluate_method(source, cfg, advance)
                label = f"{method.value} on {source}" + (f" ({Path(weights_path).name})" if weights_path else "")
        _print_results(results, summarise(results), label, json_out, csv_out)
    except SelfHDRError as exc:
        fail(exc)


def _training_setup(dataset: Path, work: Optional[Path], preset: Preset, network: Network, steps, batch, crop, lr,
                    seed, crf: str, flow: str, device: str, threads: Optional[int], val: Optional[Path],
                    val_limit: int, vgg_weights: Optional[Path] = None, val_every: Optional[int] = None):
    from selfhdr_cli.merge.infer import configure_cpu, keep_freed_memory, pick_device
    from selfhdr_cli.training.recipe import load_validation, workdir_for
    from selfhdr_cli.training.loop import init_distributed, preset_config

    if not dataset.is_dir():
        raise UsageError("no such folder", dataset)
    if vgg_weights is not None and not vgg_weights.is_file():
        raise UsageError("no such VGG19 weights file", vgg_weights)
    color_cfg = _color_config(crf, flow)
    config = preset_config(preset.value, network=network.value, steps=steps, batch=batch, crop=crop, lr=lr,
                           seed=seed, response=crf, vgg_weights=str(vgg_weights) if vgg_weights else None,
                           val_every=val_every)
    dev = pick_device(device)
    dist = init_distributed(dev)
    if dev.type == "cpu":
        configure_cpu(threads, share=dist.world)  # torchrun processes share the cores, never oversubscribe
        keep_freed_memory()
    if dist.world > 1 and dist.is_main:
        err.print(f"distributed: {dist.world} processes ({'nccl' if dev.type == 'cuda' else 'gloo'})",
                  highlight=False)
    work_dir = workdir_for(dataset, work)
    validation = None
    if val is not None and dist.is_main:
        with err.status("loading the validation set…"):
            validation = load_validation(val, color_cfg, val_limit or None)
        err.print(f"validation: {len(validation.names)} scenes from {val}; colour component PSNR-μ "
                  f"{validation.color_psnr_mu:.2f} dB", highlight=False)
    return color_cfg, config, dev, dist, work_dir, validation


class _TrainDisplay:
    """Rich progress for a training stage: losses, validation PSNR-μ, ETA."""

    def __init__(self, progress, label: str) -> None:
        self.progress = progress
        self.label = label
        self.task = None
        self.last_val = None

    def step(self, record: dict) -> None:
        if self.task is None:
            self.task = self.progress.add_task(self.label, total=record["steps"], completed=record["step"] - 1,
                                               info="")
        if "val_psnr_mu" in record:
            self.last_val = record["val_psnr_mu"]
        parts = " ".join(f"{k} {v:.4f}" for k, v in record.items() if k in ("se", "sp", "color", "stru"))
        val = f" val PSNR-μ {self.last_val:.2f}" if self.last_val is not None else ""
        self.progress.update(self.task, completed=record["step"], info=f"loss {record['loss']:.4f} ({parts}){val}")
        if "val_psnr_mu" in record:
            err.print(f"{self.label} step {record['step']}: val PSNR-μ {record['val_psnr_mu']:.2f} dB, "
                      f"loss {record['loss']:.4f}", highlight=False)

    def event(self, text: str) -> None:
        err.print(text, highlight=False)


def _train_progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=err)


DATASET_HELP = "Folder of unlabelled brackets, one subfolder per scene (Kalantari layout); ground truth is never read."
WORK_HELP = "Work folder for the colour cache, Y_stru, checkpoints and weights (default <DATASET>.selfhdr)."
PRESET_HELP = ("Schedule: [bold]cpu[/] (default; both stages in about an hour on 2 cores), [bold]gpu[/] (the "
               "published 180 k iterations, batch 16), [bold]tiny[/] (smoke test). Flags below override it.")
VAL_HELP = "A labelled dataset (<scene>/HDRImg.hdr) to report PSNR-μ on during training."


# options shared by train-structure and train (Typer option objects are plain metadata)
WORK_OPTION = typer.Option(None, "--work", help=WORK_HELP)
PRESET_OPTION = typer.Option(Preset.cpu, "--preset", help=PRESET_HELP)
BATCH_OPTION = typer.Option(None, "--batch", min=1, help="Crops per iteration (per process).")
CROP_OPTION = typer.Option(None, "--crop", min=32, help="Crop size in pixels (128 published).")
LR_OPTION = typer.Option(None, "--lr", help="Adam learning rate (halved at 1/3 and 2/3).")
SEED_OPTION = typer.Option(0, "--seed", help="Seed of weights and data order.")
VAL_OPTION = typer.Option(None, "--val", help=VAL_HELP)
VAL_LIMIT_OPTION = typer.Option(0, "--val-limit", help="Use only the first N validation scenes (0 = all).")
VAL_EVERY_OPTION = typer.Option(None, "--val-every", min=1, help="Validate every N iterations.")
THREADS_OPTION = typer.Option(None, "--threads", help="CPU threads (default: all cores; shared under torchrun).")


@app.command("train-structure")
def train_structure_cmd(
    dataset: Path = typer.Argument(..., help=DATASET_HELP, show_default=False),
    work: Optional[Path] = WORK_OPTION,
    preset: Preset = PRESET_OPTION,
    network: Network = typer.Option(Network.fastnet, "--network", help="Architecture of f_s."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Training iterations."),
    batch: Optional[int] = BATCH_OPTION,
    crop: Optional[int] = CROP_OPTION,
    lr: Optional[float] = LR_OPTION,
    seed: int = SEED_OPTION,
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint in the work folder."),
    force: bool = typer.Option(False, "--force", "-f", help="Retrain even when the outputs exist."),
    val: Optional[Path] = VAL_OPTION,
    val_limit: int = VAL_LIMIT_OPTION,
    val_every: Optional[int] = VAL_EVERY_OPTION,
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    threads: Optional[int] = THREADS_OPTION,
    crf: str = typer.Option("gamma:2.2", "--crf", help=CRF_HELP),
    flow: str = typer.Option(DEFAULT_FLOW, "--flow", help=FLOW_HELP),
) -> None:
    """Stage 1 (SPEC §3): train the structure-focused network f_s, then write Y_stru for every scene.

    Runs build-color first where it is missing. Trains on random 128×128 crops of the unaligned frames with L_se + L_sp, then applies f_s to the aligned frames at full resolution and stores Y_stru as float32 EXR.
    """
    try:
        from selfhdr_cli.training.recipe import train_structure

        color_cfg, config, dev, dist, work_dir, validation = _training_setup(
            dataset, work, preset, network, steps, batch, crop, lr, seed, crf, flow, device, threads, val, val_limit,
            None, val_every)
        with _train_progress() as progress:
            display = _TrainDisplay(progress, "stage 1")
            result = train_structure(dataset, work_dir, config, color_cfg, dev, dist, resume=resume, force=force,
                                     validation=validation, on_step=display.step if dist.is_main else None,
                                     on_event=display.event if dist.is_main else None)
        if dist.is_main:
            err.print(f"stage 1 → {work_dir.structure_weights}"
                      + (f" ({result.seconds / 60:.1f} min)" if result else ""), highlight=False)
    except SelfHDRError as exc:
        fail(exc)


@app.command()
def train(
    dataset: Path = typer.Argument(..., help=DATASET_HELP, show_default=False),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Weights to write (.safetensors; default <work>/selfhdr.safetensors)."),
    work: Optional[Path] = WORK_OPTION,
    preset: Preset = PRESET_OPTION,
    network: Network = typer.Option(Network.fastnet, "--network", help="Architecture of both stages."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Training iterations per stage."),
    batch: Optional[int] = BATCH_OPTION,
    crop: Optional[int] = CROP_OPTION,
    lr: Optional[float] = LR_OPTION,
    seed: int = SEED_OPTION,
    vgg_weights: Optional[Path] = typer.Option(None, "--vgg-weights",
                                               help="Use the published VGG19 structure loss with this local "
                                                    "torchvision-format VGG19 state dict (.pth or .safetensors)."),
    supervised: bool = typer.Option(False, "--supervised",
                                    help="Train the same network supervised instead (L1 in μ-law against each "
                                         "scene's HDRImg.hdr): the upper bound SelfHDR is compared with."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoints in the work folder."),
    force: bool = typer.Option(False, "--force", "-f", help="Retrain and overwrite even when outputs exist."),
    val: Optional[Path] = VAL_OPTION,
    val_limit: int = VAL_LIMIT_OPTION,
    val_every: Optional[int] = VAL_EVERY_OPTION,
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    threads: Optional[int] = THREADS_OPTION,
    crf: str = typer.Option("gamma:2.2", "--crf", help=CRF_HELP),
    flow: str = typer.Option(DEFAULT_FLOW, "--flow", help=FLOW_HELP),
) -> None:
    """From a folder of brackets to a trained deghosting network, without ground truth (SPEC §2–4).

    Runs whatever is missing — build-color, stage 1 (train-structure), Y_stru — then stage 2: the reconstruction network on the unaligned frames with L_color + L_stru and reference-noise augmentation. Checkpoints every few minutes; --resume continues. Scale out with [bold]torchrun --nproc_per_node N -m selfhdr_cli train ...[/].

    Example: [bold]selfhdr train mybrackets/ --val bench/ -o my.safetensors[/]
    """
    try:
        from selfhdr_cli.io.atomic import check_output_path
        from selfhdr_cli.training.recipe import train_reconstruction, train_structure, train_supervised

        color_cfg, config, dev, dist, work_dir, validation = _training_setup(
            dataset, work, preset, network, steps, batch, crop, lr, seed, crf, flow, device, threads, val, val_limit,
            vgg_weights, val_every)
        out = output if output is not None else work_dir.final_weights
        if dist.is_main:
            check_output_path(out, force or resume, (".safetensors",))
        if supervised:
            with _train_progress() as progress:
                display = _TrainDisplay(progress, "supervised")
                result = train_supervised(dataset, work_dir, config, color_cfg, dev, dist, out, resume=resume,
                                          force=force, validation=validation,
                                          on_step=display.step if dist.is_main else None,
                                          on_event=display.event if dist.is_main else None)
            if dist.is_main:
                err.print(f"supervised → {out} ({result.seconds / 60:.1f} min)", highlight=False)
            return
        with _train_progress() as progress:
            display1 = _TrainDisplay(progress, "stage 1")
            train_structure(dataset, work_dir, config, color_cfg, dev, dist, resume=resume, force=force,
                            validation=validation, on_step=display1.step if dist.is_main else None,
                            on_event=display1.event if dist.is_main else None)
            display2 = _TrainDisplay(progress, "stage 2")
            result = train_reconstruction(dataset, work_dir, config, dev, dist, out, resume=resume, force=force,
                                          validation=validation, on_step=display2.step if dist.is_main else None,
                                          on_event=display2.event if dist.is_main else None)
        if dist.is_main:
            err.print(f"stage 2 → {out} ({result.seconds / 60:.1f} min)", highlight=False)
    except SelfHDRError as exc:
        fail(exc)


def main() -> None:
    """Console-script entry point."""
    from selfhdr_cli.merge.batch import raise_on_sigterm

    raise_on_sigterm()  # SIGTERM unwinds like Ctrl-C: temporary files are removed
    try:
        app()
    except KeyboardInterrupt:
        err.print("selfhdr: interrupted", highlight=False)
        sys.exit(130)
