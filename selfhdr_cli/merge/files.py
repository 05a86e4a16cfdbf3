"""One bracket from files to files: validate, decode, merge, write the HDR and its preview.

Everything that can be checked before the work is checked first (outputs, exposure
metadata, sizes, weights); both outputs are written atomically.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from selfhdr_cli.errors import UsageError
from selfhdr_cli.io.atomic import check_output_path
from selfhdr_cli.io.hdrfile import HDR_SUFFIXES, check_half, read_hdr_image, write_outputs, write_png
from selfhdr_cli.merge.bracket import decode_plan, plan_bracket, three_frames
from selfhdr_cli.merge.memory import check_memory
from selfhdr_cli.merge.method import MergeConfig, check_units, merge_bracket_with_stats
from selfhdr_cli.merge.quality import WARN_DEPARTURES, departures
from selfhdr_cli.radiometry.tonemap import tonemap


@dataclass
class BracketJob:
    """One bracket to merge: its frames, how their exposures are given, where to write."""

    name: str
    frames: list[Path]
    output: Path
    preview: Path | None = None
    exposures: str | None = None  # --exposures: seconds, one per frame
    ev: str | None = None         # --ev: stops, one per frame
    reference: str | None = None  # --reference: index or file name


@dataclass
class JobResult:
    """A summary row of one bracket's merge (``--json``)."""

    name: str
    inputs: list[str]
    output: str
    status: str  # merged | previewed (an existing output's missing preview made) | skipped | failed
    exposure_times: list[float] = field(default_factory=list)
    exposure_source: str | None = None
    exposure_note: str = ""
    response_note: str = ""  # --crf auto: the bracket's own response fitted, or why the run's was kept
    warnings: list[str] = field(default_factory=list)  # doubts about the input (estimated exposures), for warning: lines
    quality: dict | None = None  # merge.quality: what the merge departs from its reference frame
    reference: int | None = None
    size: list[int] | None = None
    seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def check_not_an_input(job: BracketJob) -> None:
    """Refuse an output (or preview) that is one of the bracket's own frames: --force must never
    turn an input into an output."""
    frames = {os.path.realpath(f) for f in job.frames}  # realpath: a symlink loop is the frames' check's to report
    for out in (job.output, job.preview):
        if out is not None and os.path.realpath(out) in frames:
            raise UsageError("the output is one of the input frames", out)


def check_outputs(job: BracketJob, config: MergeConfig) -> None:
    """Everything about a job's outputs that can be refused before the work (``merge`` and its
    ``--dry-run`` alike): not an input frame, ``--half`` for its type, known suffixes, folders
    that take files, no clobbering without ``force``, a preview that is not the output."""
    check_not_an_input(job)
    check_half(job.output, config.half)  # before the work, not at the write
    check_output_path(job.output, config.force, HDR_SUFFIXES)
    if job.preview is not None:
        check_output_path(job.preview, config.force, (".png",))
        if job.preview.resolve() == job.output.resolve():
            raise UsageError("the preview and the output are the same file", job.preview)


def merge_to_files(job: BracketJob, config: MergeConfig,
                   progress: Callable[[int, int], None] | None = None) -> JobResult:
    """Validate, merge and write one bracket. Raises SelfHDRError on bad input."""
    started = time.perf_counter()
    check_outputs(job, config)
    plan = plan_bracket(job.frames, config.bracket, exposures=job.exposures, ev=job.ev, reference=job.reference)
    check_units(config.units, plan.absolute, plan.exposure_source)  # before decoding: fail fast
    if config.method == "net":
        from selfhdr_cli.merge.engine import resolve_network

        three_frames(len(plan.paths), plan.reference)
        config = replace(config, weights=resolve_network(config.weights, config.device, config.tile)[0])
    check_memory(plan, config)
    bracket = decode_plan(plan, config.bracket)
    hdr, stats = merge_bracket_with_stats(bracket, config, progress=progress)
    config = config.for_bracket(bracket)  # the response the merge used, for the quality measure
    # one unit: neither is put in place unless both were written (an existing HDR output means a complete
    # pair, which batches skip)
    with ThreadPoolExecutor(1) as pool:  # the measure runs while the file is compressed (both release the GIL)
        measuring = pool.submit(departures, hdr, bracket.frames[bracket.reference],
                                float(bracket.relative_times[bracket.reference]), config.response)
        preview = tonemap(hdr, config.tonemap) if job.preview is not None else None
        write_outputs(job.output, hdr, half=config.half, force=config.force, preview=job.preview, preview_u8=preview)
        found = measuring.result()
    quality = {"departures_percent": round(100 * found.share, 3), "judged_percent": round(100 * found.well_exposed, 1),
               "reference_noise": round(found.noise, 5), "warn_above_percent": WARN_DEPARTURES,
               "response": config.response.identity, "response_fitted": bracket.response is not None}
    if stats is not None:
        quality["frame_shares_percent"] = [round(100 * v, 2) for v in stats.frame_shares]  # exposure order
        quality["rejected_percent"] = round(100 * stats.rejected, 2)
        quality["alignment_residual_stops"] = list(stats.alignment_residual_stops)  # exposure order
    return JobResult(quality=quality, name=job.name, inputs=[str(p) for p in plan.paths], output=str(job.output), status="merged",
                     exposure_times=[float(t) for t in bracket.times], exposure_source=bracket.exposure_source,
                     exposure_note="; ".join(n for n in [plan.exposure_note, *bracket.notes] if n),
                     response_note=bracket.response_note, warnings=list(plan.exposure_warnings),
                     reference=plan.reference, size=[int(plan.size[1]), int(plan.size[0])],
                     seconds=round(time.perf_counter() - started, 3))


def complete_preview(job: BracketJob, config: MergeConfig) -> JobResult:
    """Write the missing preview of an existing HDR output (a batch rerun after an interrupt,
    or with --previews added): tone-mapped from the file, no merge."""
    started = time.perf_counter()
    write_png(job.preview, tonemap(read_hdr_image(job.output), config.tonemap), config.force)
    return JobResult(name=job.name, inputs=[str(p) for p in job.frames], output=str(job.output), status="previewed",
                     seconds=round(time.perf_counter() - started, 3))


def default_output(frames: list[Path], reference_stem: Callable[[], str]) -> Path:
    """Where ``merge`` writes when no ``-o`` is given: beside the frames (the first frame's folder
    when they are spread), named by their common name prefix (``img_1.tif, img_2.tif`` →
    ``img.exr``), else by the reference frame's stem (``reference_stem()``), with ``.exr``."""
    frames = [Path(f) for f in frames]
    folders = {f.parent for f in frames}
    folder = folders.pop() if len(folders) == 1 else frames[0].parent
    prefix = os.path.commonprefix([f.stem for f in frames]).rstrip("_-. ")
    return folder / f"{prefix or reference_stem()}.exr"
