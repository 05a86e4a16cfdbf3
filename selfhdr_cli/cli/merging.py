"""Commands for merging: ``merge`` (one bracket or a batch), ``info``, ``tonemap``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from selfhdr_cli.cli.app import (
    AUTO_CRF,
    DEFAULT_CRF,
    MERGE_CRF_HELP,
    MERGE_CRF_OPTION,
    DEVICE_HELP,
    EV_HELP,
    EXPOSURES_HELP,
    FLAG,
    MERGE_PANEL,
    NET_FLOW_HELP,
    REFERENCE_HELP,
    TILE_HELP,
    WEIGHTS_HELP,
    Method,
    Tonemap,
    Units,
    _run_settings,
    chosen_method,
    _progress,
    app,
    err,
    fail,
)
from selfhdr_cli.errors import SelfHDRError, UsageError


def _render_plan(plan, json_out: bool, output: Optional[Path] = None) -> None:
    from rich.table import Table

    from selfhdr_cli.io.frames import bit_depth

    if json_out:
        sys.stdout.write(json.dumps({
            "frames": [str(p) for p in plan.paths], "exposure_times": [float(t) for t in plan.times],
            "absolute_times": plan.absolute, "exposure_source": plan.exposure_source, "reference": plan.reference,
            "size": [int(plan.size[1]), int(plan.size[0])], "bit_depth": [bit_depth(p) for p in plan.paths],
            "exposure_note": plan.exposure_note, "warnings": list(plan.exposure_warnings),
            "output": str(output) if output else None}) + "\n")
        return
    if plan.exposure_note:
        err.print(f"note: {plan.exposure_note}", highlight=False, soft_wrap=True)
    for warning in plan.exposure_warnings:
        err.print(f"warning: {warning}", highlight=False, soft_wrap=True)
    unit = "s" if plan.absolute else "× shortest"
    table = Table(title=f"{len(plan.paths)} frames, {plan.size[1]}x{plan.size[0]}, exposures from "
                        f"{plan.exposure_source}", title_justify="left")
    for col in ("#", "frame", f"exposure ({unit})", "EV", "depth", ""):
        # a long path folds onto more lines rather than losing the part that names the frame
        table.add_column(col, overflow="fold", no_wrap=col != "frame")
    times = plan.times if plan.absolute else plan.times / plan.times[0]
    import math

    for i, (p, t) in enumerate(zip(plan.paths, times)):
        ev = math.log2(plan.times[i] / plan.times[plan.reference])
        table.add_row(str(i), str(p), f"1/{1 / t:.4g}" if plan.absolute and t < 1 else f"{t:.4g}", f"{ev:+.2f}",
                      bit_depth(p), "reference" if i == plan.reference else "")
    Console().print(table)
    if output is not None:
        Console().print(f"output: {output}", highlight=False, soft_wrap=True)


# the help panels of merge (in the order they first appear among its options; the rest are under "Options")
EXPOSURES, METHOD, FORMAT, NETWORK, BATCHES, RAW = ("Exposures", "Method", "Output format", "Network (--method net)",
                                                    "Batches (--batch)", "RAW frames")


@app.command(rich_help_panel=MERGE_PANEL)
def merge(
    frames: Optional[List[Path]] = typer.Argument(None, help="The frames of one bracket, in any order: 8/16-bit or "
                                                             "float TIFF, PNG, JPEG, or camera RAW (DNG, CR2/CR3, "
                                                             "NEF, ARW, RAF, ORF, RW2).", show_default=False,
                                                  metavar="FRAMES"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE",
                                          help="[bold].exr[/] or [bold].tif[/] (float32) or [bold].hdr[/] (RGBE). "
                                               "Default: beside the frames, named by their common prefix "
                                               "(img_1.tif, img_2.tif → img.exr). With --batch: the folder.",
                                          show_default=False),
    exposures: Optional[str] = typer.Option(None, "--exposures", "-e", help=EXPOSURES_HELP, metavar="TIMES",
                                            rich_help_panel=EXPOSURES),
    ev: Optional[str] = typer.Option(None, "--ev", help=EV_HELP, metavar="STOPS", rich_help_panel=EXPOSURES),
    method: Optional[Method] = typer.Option(None, "--method", "-m", metavar="METHOD", show_default=False,
                                            rich_help_panel=METHOD,
                                            help="[bold]color[/] (default): the frames aligned by optical flow (a "
                                                 "rigid global motion first when the camera moved), each pixel "
                                                 "merged from every frame weighted by its signal-to-noise ratio, "
                                                 "frames that disagree (motion) rejected, with soft edges. "
                                                 "[bold]net[/]: a network on that merge, better where things move "
                                                 "(default with --weights, --tile or --device; docs/METHOD.md). "
                                                 "[bold]debevec[/]: the classical merge, no alignment (ghosts; a "
                                                 "baseline). [bold]ref[/]: the reference frame alone, linearised."),
    reference: Optional[str] = typer.Option(None, "--reference", "-r", help=REFERENCE_HELP, metavar="REF",
                                            rich_help_panel=EXPOSURES),
    crf: str = typer.Option(AUTO_CRF, "--crf", help=MERGE_CRF_HELP, metavar="CRF", rich_help_panel=EXPOSURES),
    flow: Optional[str] = typer.Option(None, "--flow", help=NET_FLOW_HELP, show_default=False, metavar="FLOW",
                                       rich_help_panel=METHOD),
    color_merge: Optional[str] = typer.Option(None, "--color-merge", show_default=False, metavar="MERGE",
                                               rich_help_panel=METHOD,
                                               help="--method color: [bold]snr[/] (default), as above, or "
                                                    "[bold]triangle[/]: the paper's fixed triangle weights on the "
                                                    "short, reference and long frames."),
    units: Units = typer.Option(Units.short, "--units", metavar="UNITS", show_default=False, rich_help_panel=FORMAT,
                                help="[bold]short[/] (default): the shortest frame's exposure is 1. "
                                     "[bold]seconds[/]: radiance per second (needs times in seconds)."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help=WEIGHTS_HELP, metavar="FILE",
                                           rich_help_panel=NETWORK),
    tile: int = typer.Option(0, "--tile", min=0, max=8192, help=TILE_HELP, metavar="PX", show_default=False,
                             rich_help_panel=NETWORK),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP, metavar="DEVICE", show_default=False,
                               rich_help_panel=NETWORK),
    half: bool = typer.Option(False, "--half", metavar=FLAG, rich_help_panel=FORMAT,
                              help="Write .exr or .tif as float16."),
    preview: Optional[Path] = typer.Option(None, "--preview", "-p", metavar="PNG",
                                           help="Also write a tone-mapped 8-bit preview."),
    tonemap_op: Tonemap = typer.Option(Tonemap.reinhard, "--tonemap", metavar="OP", show_default=False,
                                       rich_help_panel=FORMAT,
                                       help="Preview tone curve: [bold]reinhard[/] (default), mu-law, gamma."),
    batch: Optional[Path] = typer.Option(None, "--batch", metavar="DIR", rich_help_panel=BATCHES,
                                         help="Merge every bracket in DIR (a subfolder each, or a flat folder "
                                              "split by --group-size or --time-gap) into the folder -o."),
    group_size: Optional[int] = typer.Option(None, "--group-size", metavar="N", rich_help_panel=BATCHES,
                                             help="N consecutive frames per bracket."),
    time_gap: Optional[float] = typer.Option(None, "--time-gap", metavar="S", rich_help_panel=BATCHES,
                                             help="A new bracket where EXIF capture times jump by over S seconds."),
    pattern: str = typer.Option("{name}.exr", "--pattern", metavar="NAME", rich_help_panel=BATCHES,
                                help="Output file name; {name} is the bracket's."),
    previews: bool = typer.Option(False, "--previews", metavar=FLAG, rich_help_panel=BATCHES,
                                  help="Also write {name}.png previews."),
    shard: Optional[str] = typer.Option(None, "--shard", metavar="K/N", rich_help_panel=BATCHES,
                                        help="Merge only shard K of N (K = 0..N-1): a disjoint share fixed by "
                                             "the brackets' names, one cluster job per shard."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=64, metavar="N", rich_help_panel=BATCHES,
                             help="Brackets merged in parallel (sharing the cores)."),
    white_balance: str = typer.Option("camera", "--wb", metavar="WB", show_default=False, rich_help_panel=RAW,
                                      help="White balance: [bold]camera[/] (default, as shot) or [bold]none[/]."),
    raw_space: str = typer.Option("srgb", "--raw-space", metavar="SPACE", show_default=False, rich_help_panel=RAW,
                                  help="Linear [bold]srgb[/] (default; Rec.709 primaries) or the "
                                       "[bold]camera[/]'s own RGB."),
    trust_exposures: bool = typer.Option(False, "--trust-exposures", metavar=FLAG, rich_help_panel=EXPOSURES,
                                         help="Do not check the exposures against the pixels (their order, and "
                                              "their spacing under the camera response)."),
    dry_run: bool = typer.Option(False, "--dry-run", metavar=FLAG,
                                 help="Show the frames, exposures, reference and output path; merge nothing."),
    force: bool = typer.Option(False, "--force", "-f", metavar=FLAG,
                               help="Overwrite existing outputs."),
    json_out: bool = typer.Option(False, "--json", metavar=FLAG,
                                  help="Print a JSON summary on stdout."),
) -> None:
    """Merge one bracket, or a folder of brackets, into HDR images.

    Frames are sorted by exposure; the middle one is the reference, whose geometry the output keeps. Exposure times come from, in order: --exposures, --ev, an exposure.txt beside the frames (one EV per line, in file-name order), EXIF, else the pixels.

    Examples:
      [bold]selfhdr merge img_*.tif --ev -2,0,2 -o out.exr --preview out.png[/]
      [bold]selfhdr merge --batch shoot/ -o hdr/ --group-size 3 --jobs 2 --json[/]
    """
    from selfhdr_cli.merge.files import BracketJob, merge_to_files
    from selfhdr_cli.merge.method import MergeConfig

    try:
        method = chosen_method(method, weights, tile, device)
        settings, color = _run_settings(crf, flow, color_merge, white_balance=white_balance, raw_space=raw_space,
                                        trust_exposures=trust_exposures, allow_auto=True)
        # no --flow: None, so that the network path uses the flow its weights were trained behind
        config = MergeConfig(method=method.value, bracket=settings, align=color.align if flow else None,
                             units=units.value,
                             weights=str(weights) if weights else None, tile=tile, device=device, half=half,
                             tonemap=tonemap_op.value, force=force, color_merge=color_merge)
    except SelfHDRError as exc:
        fail(exc)
        return
    if shard is not None and batch is None:
        fail(UsageError("--shard splits a --batch run: give --batch FOLDER"))
    if batch is not None:
        if preview is not None:
            fail(UsageError("--preview names one file: with --batch use --previews (a {name}.png beside each output)"))
        _merge_batch(batch, output, config, group_size, time_gap, pattern, previews, jobs, dry_run, json_out,
                     frames, exposures, ev, reference, shard)
        return
    try:
        if not frames:
            raise UsageError("give the frames of a bracket, or --batch FOLDER")
        from selfhdr_cli.merge.bracket import plan_bracket

        if output is None:
            from selfhdr_cli.merge.files import default_output

            def reference_stem() -> str:
                plan = plan_bracket(frames, config.bracket, exposures=exposures, ev=ev, reference=reference)
                return plan.paths[plan.reference].stem

            output = default_output(list(frames), reference_stem)
        if dry_run:
            from selfhdr_cli.merge.files import check_outputs

            plan = plan_bracket(frames, config.bracket, exposures=exposures, ev=ev, reference=reference)
            check_outputs(BracketJob(output.stem, list(frames), output, preview), config)
            _render_plan(plan, json_out, output)
            return
        if method == Method.net:
            from selfhdr_cli.io.weights_file import default_weights
            from selfhdr_cli.merge.device import configure_cpu
            from selfhdr_cli.merge.engine import network_engine

            engine = network_engine(config.weights or default_weights(), config.device, config.tile)
            configure_cpu(torch_settings=engine == "torch")  # the process's own settings, once
        else:
            from selfhdr_cli.merge.device import keep_freed_memory

            keep_freed_memory()  # large temporaries come and go: glibc's defaults fault every page of each
        with _progress() as progress:
            task = progress.add_task(f"merge ({method.value})", total=None)
            tick = lambda done, total: progress.update(task, completed=done, total=total)  # noqa: E731
            job = BracketJob(output.stem, list(frames), output, preview, exposures=exposures, ev=ev,
                             reference=reference)
            result = merge_to_files(job, config, tick)
        for note in (result.exposure_note, result.response_note):
            if note:
                err.print(f"note: {note}", highlight=False, soft_wrap=True)
        for warning in result.warnings:
            err.print(f"warning: {warning}", highlight=False, soft_wrap=True)
        err.print(f"Wrote {output} ({result.size[0]}x{result.size[1]}, {method.value}) in {result.seconds:.2f} s",
                  highlight=False)
        _warn_departures(result)
        if json_out:
            summary = {**result.as_dict(), "preview": str(preview) if preview else None, "method": method.value,
                       "frames": result.inputs, "units": units.value}
            sys.stdout.write(json.dumps(summary) + "\n")
    except SelfHDRError as exc:
        fail(exc)


def _warn_departures(result) -> None:
    """One ``warning:`` line when the merge departs from its reference more than the documented threshold."""
    quality = result.quality
    if quality and quality["departures_percent"] > quality["warn_above_percent"]:
        err.print(f"warning: {Path(result.output).name}: the merge departs from the reference frame on "
                  f"{quality['departures_percent']:.1f} % of its well-exposed pixels (above "
                  f"{quality['warn_above_percent']:g} %): look at it, or try --crf with a calibrated response, "
                  "or --method debevec for a static bracket", highlight=False, soft_wrap=True)


def _merge_batch(in_dir: Path, out_dir: Optional[Path], config, group_size, time_gap, pattern, previews, jobs,
                 dry_run, json_out, frames, exposures, ev, reference, shard_text: Optional[str] = None) -> None:
    from selfhdr_cli.merge.batch import find_brackets, parse_shard, plan_jobs, run_batch, select_shard

    try:
        if frames:
            raise UsageError("give either frames or --batch FOLDER, not both")
        if out_dir is None:
            raise UsageError("--batch needs -o OUT_DIR, the folder to write into")
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError("--batch output must be a folder", out_dir)
        if not out_dir.parent.resolve().is_dir():
            raise UsageError("output folder's parent does not exist", out_dir.parent)
        shard = parse_shard(shard_text) if shard_text is not None else None
        # every bracket is planned (so outputs are checked across the whole shoot), then the shard taken
        brackets = find_brackets(in_dir, group_size, time_gap)
        if any(f.parent.resolve() == out_dir.resolve() for _, group in brackets for f in group):
            raise UsageError("-o is the folder the frames are in: outputs and previews written there would be read "
                             "as frames by the next run; write into another folder", out_dir)
        mine = {name for name, _ in select_shard(brackets, shard)}
        job_list = plan_jobs(brackets, out_dir, pattern, previews, exposures, ev, reference)
        job_list = [job for job in job_list if job.name in mine]
        if dry_run:
            from selfhdr_cli.merge.bracket import plan_bracket

            rows = []
            for job in job_list:
                try:
                    plan = plan_bracket(job.frames, config.bracket, job.exposures, job.ev, job.reference)
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
        task = progress.add_task(f"batch ({config.method})", total=len(job_list))
        for result in run_batch(job_list, config, jobs):
            results.append(result)
            _warn_departures(result)
            for warning in result.warnings:  # doubtful estimated exposures: per bracket, as a single merge says
                err.print(f"warning: {result.name}: {warning}", highlight=False, soft_wrap=True)
            if result.status == "failed":
                err.print(f"[bold red]selfhdr: error:[/] bracket {result.name}: {result.error}", highlight=False,
                          soft_wrap=True)
            progress.advance(task)
    counts = {s: sum(r.status == s for r in results) for s in ("merged", "previewed", "skipped", "failed")}
    previewed = f", {counts['previewed']} previews completed" if counts["previewed"] else ""
    err.print(f"batch: {counts['merged']} merged{previewed}, {counts['skipped']} skipped, {counts['failed']} failed in "
              f"{time.perf_counter() - started:.1f} s → {out_dir}", highlight=False)
    if json_out:
        order = {job.name: i for i, job in enumerate(job_list)}
        rows = [r.as_dict() for r in sorted(results, key=lambda r: order[r.name])]
        sys.stdout.write(json.dumps({"output": str(out_dir), "method": config.method, **counts,
                                     "shard": shard_text, "brackets": rows}) + "\n")
    if counts["failed"]:
        raise typer.Exit(1)


@app.command(rich_help_panel=MERGE_PANEL)
def info(
    frames: List[Path] = typer.Argument(..., help="The frames of a bracket, or one scene folder.", show_default=False,
                                        metavar="FRAMES"),
    exposures: Optional[str] = typer.Option(None, "--exposures", "-e", help=EXPOSURES_HELP, metavar="TIMES"),
    ev: Optional[str] = typer.Option(None, "--ev", help=EV_HELP, metavar="STOPS"),
    reference: Optional[str] = typer.Option(None, "--reference", "-r", help=REFERENCE_HELP, metavar="REF"),
    crf: str = MERGE_CRF_OPTION,
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout.", metavar=FLAG),
) -> None:
    """Show what merge would read: frames in exposure order, exposure times and their source, reference, size, depth.

    Exposures estimated from the pixels depend on the camera response: give the --crf you merge with.
    """
    try:
        from selfhdr_cli.io.dataset import scene_frames
        from selfhdr_cli.merge.bracket import plan_bracket

        settings, _ = _run_settings(crf, None, allow_auto=True)
        paths = scene_frames(frames[0]) if len(frames) == 1 and frames[0].is_dir() else list(frames)
        _render_plan(plan_bracket(paths, settings, exposures=exposures, ev=ev, reference=reference), json_out)
    except SelfHDRError as exc:
        fail(exc)


@app.command("tonemap", rich_help_panel=MERGE_PANEL)
def tonemap_cmd(
    source: Path = typer.Argument(..., help="HDR image (.exr, .hdr or float .tif).", show_default=False,
                                  metavar="HDR"),
    output: Path = typer.Argument(..., help="8-bit PNG to write.", show_default=False, metavar="PNG"),
    operator: Tonemap = typer.Option(Tonemap.reinhard, "--op", metavar="OP", show_default=False,
                                     help="[bold]reinhard[/] (default; Reinhard 2002, global), mu-law or gamma."),
    stops: float = typer.Option(0.0, "--exposure", help="Extra exposure in stops on top of the automatic one.",
                                metavar="STOPS"),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing PNG.", metavar=FLAG),
) -> None:
    """Tone-map an HDR file to an 8-bit PNG, with automatic exposure."""
    try:
        from selfhdr_cli.io.atomic import check_output_path
        from selfhdr_cli.io.hdrfile import read_hdr_image, write_png
        from selfhdr_cli.radiometry.tonemap import check_stops, tonemap

        check_stops(stops)
        check_output_path(output, force, (".png",))
        write_png(output, tonemap(read_hdr_image(source), operator.value, stops), force)
        err.print(f"Wrote {output}", highlight=False)
    except SelfHDRError as exc:
        fail(exc)



@app.command(rich_help_panel=MERGE_PANEL)
def calibrate(
    sources: List[Path] = typer.Argument(..., help="The frames of one static bracket, or scene folders (one "
                                                   "bracket each, exposures from exposure.txt or EXIF).",
                                         show_default=False, metavar="SOURCES"),
    output: Path = typer.Option(..., "--output", "-o", help="Response file to write (.json).", show_default=False,
                                metavar="FILE"),
    exposures: Optional[str] = typer.Option(None, "--exposures", "-e", help=EXPOSURES_HELP, metavar="TIMES"),
    ev: Optional[str] = typer.Option(None, "--ev", help=EV_HELP, metavar="STOPS"),
    levels: int = typer.Option(0, "--levels", min=0, max=4096, metavar="N", show_default=False,
                               rich_help_panel="Response table",
                               help="Table size; 0 (default): 256 for 8-bit frames, 1024 otherwise."),
    smoothness: float = typer.Option(50.0, "--smoothness", min=0.0, max=1e6, metavar="λ",
                                     rich_help_panel="Response table",
                                     help="Debevec & Malik's λ (for 256 levels): larger, smoother curves."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing response file.", metavar=FLAG),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout.", metavar=FLAG),
) -> None:
    """Measure the camera's response curve from static brackets (Debevec & Malik 1997), for --crf.

    The camera must not move (a tripod); more brackets and more frames constrain the curve better. The JSON holds one curve per channel (linear value at evenly spaced levels), the method and the frames used; pass it as [bold]--crf camera.json[/] to merge, build-color, evaluate and train.

    Example:
      [bold]selfhdr calibrate tripod/*.jpg --exposures 1/250,1/60,1/15 -o camera.json[/]
    """
    try:
        from selfhdr_cli.io.atomic import check_output_path, write_bytes_atomic
        from selfhdr_cli.io.dataset import scene_frames
        from selfhdr_cli.io.raw import is_raw
        from selfhdr_cli.merge.bracket import load_bracket
        from selfhdr_cli.merge.snr import code_bits
        from selfhdr_cli.radiometry.calibration import WARN_RESIDUAL_STOPS, calibrate_debevec
        from selfhdr_cli.radiometry.response import response_document

        check_output_path(output, force, (".json",))
        folders = [s for s in sources if s.is_dir()]
        if folders and len(folders) != len(sources):
            raise UsageError("give either the frames of one bracket or scene folders, not both")
        seen: set[Path] = set()
        for folder in folders:
            if folder.resolve() in seen:
                raise UsageError("the same folder is given twice", folder)
            seen.add(folder.resolve())
        groups = [scene_frames(f) for f in folders] if folders else [list(sources)]
        if folders and (exposures or ev):
            raise UsageError("--exposures/--ev apply to one bracket of frames; folders carry their own")
        # the response is what is being measured: exposures estimated from the pixels assume the default one
        settings, _ = _run_settings(DEFAULT_CRF, None, trust_exposures=True)
        brackets = [load_bracket(g, settings, exposures=exposures, ev=ev) for g in groups]
        if 0 < levels < 16:
            raise UsageError(f"--levels {levels}: a response table needs at least 16 levels (0: automatic)")
        if any(is_raw(p) for b in brackets for p in b.paths):
            raise UsageError("RAW frames are linear: there is no response to calibrate")
        if levels == 0:
            levels = 256 if code_bits([f for b in brackets for f in b.frames]) == 8 else 1024
        with err.status("calibrating…"):
            result = calibrate_debevec([(b.frames, b.times) for b in brackets], levels, smoothness)
        record = {"method": "debevec-malik-1997", "smoothness": smoothness, "levels": levels,
                  "samples": result.samples, "rejected_share": round(result.rejected, 4),
                  "residual_stops": round(result.residual_stops, 4),
                  "brackets": [{"frames": [str(p) for p in b.paths], "exposure_times": [float(t) for t in b.times],
                                "exposure_source": b.exposure_source} for b in brackets]}
        write_bytes_atomic(output, response_document(result.curves, record), force)
        err.print(f"Wrote {output} ({levels} levels from {len(brackets)} bracket(s), {result.samples} pixels; "
                  f"{result.rejected:.0%} left out where the frames disagree; fit residual "
                  f"{result.residual_stops:.3f} stops)", highlight=False)
        if result.residual_stops > WARN_RESIDUAL_STOPS:
            err.print(f"warning: the fit's residual is {result.residual_stops:.2f} stops (above "
                      f"{WARN_RESIDUAL_STOPS:g}): the brackets may move, or their exposures be wrong; "
                      "calibrate on tripod brackets", highlight=False, soft_wrap=True)
        if json_out:
            sys.stdout.write(json.dumps(record | {"output": str(output)}) + "\n")
    except SelfHDRError as exc:
        fail(exc)
