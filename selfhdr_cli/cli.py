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

from .errors import SelfHDRError, UsageError

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
    color = "color"
    debevec = "debevec"


class Units(str, Enum):
    short = "short"
    seconds = "seconds"


EXPOSURES_HELP = ("Exposure times in seconds, one per frame in the order given: [bold]1/60,1/15,1/4[/] or "
                  "decimals. Wins over every other source.")
EV_HELP = "Exposure in stops, one per frame in the order given: [bold]-2,0,2[/] (t = 2^EV)."
REFERENCE_HELP = ("Reference frame whose geometry the output keeps: an index in exposure order "
                  "(0 = shortest) or a file name. Default: the middle one.")
CRF_HELP = "Camera response g: [bold]gamma:2.2[/] (default), [bold]srgb[/] or [bold]linear[/]."
FLOW_HELP = "Optical flow for alignment: dis-medium (default, chosen by benchmarks/flow_choice.py), dis-fine, dis-fast, dis-ultrafast, farneback."


def fail(exc: SelfHDRError) -> None:
    err.print(f"[bold red]selfhdr: error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _color_config(crf: str, flow: str):
    from .align import FLOW_METHODS, AlignConfig
    from .colour import ColorConfig
    from .response import parse_response

    if flow not in FLOW_METHODS:
        raise UsageError(f"--flow {flow!r}: choose one of {', '.join(FLOW_METHODS)}")
    return ColorConfig(response=parse_response(crf), align=AlignConfig(flow=flow))


@app.command()
def merge(
    frames: List[Path] = typer.Argument(..., help="LDR frames of one bracket (8/16-bit TIFF, PNG, JPEG, "
                                                  "float TIFF), in any order.", show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="HDR file to write: [bold].exr[/] (float32) "
                                                            "or [bold].hdr[/] (Radiance RGBE).",
                                show_default=False),
    exposures: Optional[str] = typer.Option(None, "--exposures", "-e", help=EXPOSURES_HELP),
    ev: Optional[str] = typer.Option(None, "--ev", help=EV_HELP),
    method: Method = typer.Option(Method.color, "--method", "-m",
                                  help="[bold]color[/]: align with optical flow, then SelfHDR's fixed-weight "
                                       "merge. [bold]debevec[/]: classical hat-weighted merge, no alignment "
                                       "(ghosts on motion; a baseline)."),
    reference: Optional[str] = typer.Option(None, "--reference", "-r", help=REFERENCE_HELP),
    crf: str = typer.Option("gamma:2.2", "--crf", help=CRF_HELP),
    flow: str = typer.Option("dis-medium", "--flow", help=FLOW_HELP),
    units: Units = typer.Option(Units.short, "--units",
                                help="[bold]short[/]: short-exposure units (shortest frame at t = 1). "
                                     "[bold]seconds[/]: radiance per second of exposure (needs times in "
                                     "seconds)."),
    half: bool = typer.Option(False, "--half", help="Write .exr as float16 instead of float32."),
    preview: Optional[Path] = typer.Option(None, "--preview", "-p",
                                           help="Also write a tone-mapped 8-bit PNG preview (Reinhard 2002, "
                                                "automatic exposure)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing outputs."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Merge one bracket into an HDR image.

    Exposure times come from, in order: --exposures, --ev, an exposure.txt beside the
    frames (one EV per line, in file-name order), EXIF ExposureTime.

    Example: [bold]selfhdr merge img_*.tif --ev -2,0,2 -o out.exr --preview out.png[/]
    """
    try:
        from .atomic import check_output_path
        from .bracket import decode_plan, plan_bracket
        from .hdrfile import HDR_SUFFIXES, write_hdr_image, write_png
        from .merge import MergeConfig, merge_bracket
        from .tonemap import reinhard

        started = time.perf_counter()
        color_cfg = _color_config(crf, flow)
        check_output_path(output, force, HDR_SUFFIXES)
        if preview is not None:
            check_output_path(preview, force, (".png",))
            if preview.resolve() == output.resolve():
                raise UsageError("--preview and --output are the same file", preview)
        plan = plan_bracket(frames, exposures=exposures, ev=ev, reference=reference)
        if units == Units.seconds and not plan.absolute:
            raise UsageError(f"--units seconds needs exposure times in seconds, but {plan.exposure_source} "
                             "gives only relative stops; pass --exposures")
        with err.status(f"Merging {len(plan.paths)} frames ({method.value})…", spinner="dots"):
            bracket = decode_plan(plan)
            hdr = merge_bracket(bracket, MergeConfig(method=method.value, response=color_cfg.response,
                                                     color=color_cfg, units=units.value))
            write_hdr_image(output, hdr, half=half)
            if preview is not None:
                write_png(preview, reinhard(hdr))
        seconds = time.perf_counter() - started
        err.print(f"Wrote {output} ({hdr.shape[1]}x{hdr.shape[0]}, {method.value}) in {seconds:.2f} s",
                  highlight=False)
        if json_out:
            summary = {
                "output": str(output), "preview": str(preview) if preview else None, "method": method.value,
                "frames": [str(p) for p in plan.paths], "exposure_times": [float(t) for t in plan.times],
                "exposure_source": plan.exposure_source, "reference": plan.reference,
                "size": [int(plan.size[1]), int(plan.size[0])], "units": units.value, "seconds": round(seconds, 3),
            }
            sys.stdout.write(json.dumps(summary) + "\n")
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
    flow: str = typer.Option("dis-medium", "--flow", help=FLOW_HELP),
    force: bool = typer.Option(False, "--force", "-f", help="Rebuild scenes that are already built."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Build the colour component Y_color (SPEC §2) and the aligned frames.

    Per scene it writes y_color.exr (float32, short-exposure units), aligned_K.exr (the
    frames warped onto the reference, exposure order) and meta.json. Scenes already
    built are skipped unless --force. A bad scene is reported and the rest go on (exit 1).
    """
    try:
        from .dataset import build_color_scene, default_cache_root, find_scenes, scene_frames

        color_cfg = _color_config(crf, flow)
        if len(source) == 1 and source[0].is_dir():
            scenes = find_scenes(source[0])
            single = len(scenes) == 1 and scenes[0] == source[0]
            root = out if out is not None else (source[0].resolve().parent / f"{source[0].resolve().name}.selfhdr"
                                                if single else default_cache_root(source[0]))
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

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    results, failures = [], 0
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as progress:
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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("selfhdr: interrupted", highlight=False)
        sys.exit(130)
