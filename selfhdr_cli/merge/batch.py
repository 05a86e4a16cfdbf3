"""Merging many brackets: discovery, parallel runs, interrupt safety.

``run_batch`` runs ``merge.files.merge_to_files`` for many brackets, in worker processes
when asked, carrying on past bad brackets. A SIGTERM is turned into
KeyboardInterrupt, so every temporary file is removed on the way out.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import string
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Iterator

import cv2

from selfhdr_cli.errors import SelfHDRError, UsageError
from selfhdr_cli.io.atomic import remove_stale_parts
from selfhdr_cli.io.exif import read_exif
from selfhdr_cli.io.frames import frame_files
from selfhdr_cli.io.hdrfile import HDR_SUFFIXES
from selfhdr_cli.merge.device import available_cores
from selfhdr_cli.merge.files import BracketJob, JobResult, check_not_an_input, complete_preview, merge_to_files
from selfhdr_cli.merge.method import MergeConfig


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def raise_on_sigterm() -> None:
    """Make SIGTERM and SIGHUP (a closed terminal) behave like Ctrl-C, so cleanup (temporary
    files, worker processes) runs."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)


# ---- discovery -------------------------------------------------------------------------------

def find_brackets(in_dir: Path, group_size: int | None = None,
                  time_gap: float | None = None) -> list[tuple[str, list[Path]]]:
    """Brackets under ``in_dir``: one per subfolder with ≥ 2 frames; or, in a flat folder,
    consecutive frames in name order by ``group_size``, or split where the EXIF capture
    times jump by more than ``time_gap`` seconds."""
    in_dir = Path(in_dir)
    if group_size is not None and time_gap is not None:
        raise UsageError("give --group-size or --time-gap, not both")
    if time_gap is not None and not (math.isfinite(time_gap) and time_gap > 0):
        raise UsageError(f"--time-gap {time_gap!r}: expected a number of seconds > 0")
    if in_dir.exists() and not in_dir.is_dir():
        raise UsageError("--batch names a folder of brackets; this is a file", in_dir)
    if not in_dir.is_dir():
        raise UsageError("no such folder", in_dir)
    subfolders = sorted(p for p in in_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = [(p.name, frame_files(p)) for p in subfolders]
    found = [(name, frames) for name, frames in found if len(frames) >= 2]
    if found and group_size is None and time_gap is None:
        return found
    flat = frame_files(in_dir)
    if not flat:
        raise UsageError("no brackets found: expected subfolders of frames, or frames with --group-size "
                         "or --time-gap", in_dir)
    if group_size is not None:
        if group_size < 2:
            raise UsageError("--group-size must be at least 2")
        if len(flat) % group_size:
            raise UsageError(f"{len(flat)} frames do not split into groups of {group_size}", in_dir)
        return [(flat[i].stem, flat[i:i + group_size]) for i in range(0, len(flat), group_size)]
    if time_gap is not None:
        exif = [read_exif(p) for p in flat]
        stamps = [e.capture_time for e in exif]
        missing = [(p, e) for p, e in zip(flat, exif) if e.capture_time is None]
        if missing:
            path, tags = missing[0]
            why = f" (EXIF unreadable: {tags.unreadable})" if tags.unreadable else ""
            raise UsageError(f"no EXIF capture time to group by{why}; use --group-size", path)
        order = sorted(range(len(flat)), key=lambda i: (stamps[i], flat[i].name))
        groups, current = [], [order[0]]
        for prev, cur in zip(order[:-1], order[1:]):
            if stamps[cur] - stamps[prev] > time_gap:
                groups.append(current)
                current = []
            current.append(cur)
        groups.append(current)
        return [(flat[g[0]].stem, [flat[i] for i in g]) for g in groups]
    raise UsageError("a flat folder of frames: give --group-size N or --time-gap SECONDS", in_dir)


def parse_shard(text: str) -> tuple[int, int]:
    """``--shard K/N``: this run's shard K (0 ≤ K < N) of N."""
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected K/N, e.g. 0/4 (shards 0..N-1)") from None
    if not (n >= 1 and 0 <= k < n):
        raise UsageError(f"--shard {text!r}: K must be 0..N-1 and N at least 1")
    return k, n


def shard_of(name: str, shards: int) -> int:
    """The shard a bracket belongs to: from its name alone (CRC-32), so every array job computes the
    same disjoint split with no coordination, and a bracket added meanwhile moves no other."""
    return zlib.crc32(name.encode("utf-8")) % shards


def select_shard(brackets: list[tuple[str, list[Path]]], shard: tuple[int, int] | None
                 ) -> list[tuple[str, list[Path]]]:
    """The brackets of shard (K, N); all of them for None."""
    if shard is None:
        return brackets
    k, n = shard
    return [b for b in brackets if shard_of(b[0], n) == k]


def plan_jobs(brackets: list[tuple[str, list[Path]]], out_dir: Path, pattern: str = "{name}.exr",
              previews: bool = False, exposures: str | None = None, ev: str | None = None,
              reference: str | None = None) -> list[BracketJob]:
    """A job per bracket, its output named by ``pattern`` ({name}: the bracket's name); the
    exposure flags apply to every bracket."""
    jobs, seen = [], set()
    for name, frames in brackets:
        try:
            fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(pattern) if f is not None]
            if any(f != "name" or spec or conv for f, spec, conv in fields):
                raise ValueError
            file_name = pattern.format(name=name)
        except (KeyError, IndexError, ValueError):
            raise UsageError(f"--pattern {pattern!r}: only a plain {{name}} may be used") from None
        if Path(file_name).suffix.lower() not in HDR_SUFFIXES:
            raise UsageError(f"--pattern {pattern!r}: the output needs an HDR type ({', '.join(HDR_SUFFIXES)})")
        if not file_name or file_name in (".", "..") or "/" in file_name or "\\" in file_name:
            raise UsageError(f"--pattern {pattern!r} gives {file_name!r}: outputs must be file names inside "
                             "the output folder (no / or ..)")
        output = Path(out_dir) / file_name
        if output in seen:
            raise UsageError(f"--pattern {pattern!r} gives two brackets the same output {output.name}")
        seen.add(output)
        jobs.append(BracketJob(name, frames, output, output.with_suffix(".png") if previews else None,
                               exposures=exposures, ev=ev, reference=reference))
    return jobs


# ---- running ---------------------------------------------------------------------------------

_IN_WORKER = False  # set in worker processes: an interrupt ends them quietly, the parent reports it
_BUSY = False       # a worker is inside a job (its files need unwinding) rather than waiting for one
_STARTED = None     # in a worker: the queue it names each bracket on as it starts it (run_batch)


def _run_one(args: tuple[BracketJob, MergeConfig]) -> JobResult:
    global _BUSY
    job, config = args
    started = time.perf_counter()
    _BUSY = True
    if _STARTED is not None:
        _STARTED.put((os.getpid(), job.name))
    try:
        check_not_an_input(job)  # before the skip: an input frame is not a previous output
        # an output and its preview are one unit: the preview is written first, so an output
        # alone is complete unless previews were added since; a preview alone is an interrupted run's
        if job.output.exists() and not config.force:
            if job.preview is None or job.preview.exists():
                return JobResult(name=job.name, inputs=[str(p) for p in job.frames], output=str(job.output),
                                 status="skipped")
            return complete_preview(job, config)
        if job.preview is not None and job.preview.is_file() and not config.force:
            job.preview.unlink()
        return merge_to_files(job, config)
    except KeyboardInterrupt:
        if _IN_WORKER:  # temporary files are gone (their finally blocks ran); no traceback from a worker
            os._exit(130)
        raise
    except SelfHDRError as exc:
        return JobResult(name=job.name, inputs=[str(p) for p in job.frames], output=str(job.output),
                         status="failed", error=str(exc), seconds=round(time.perf_counter() - started, 3))
    finally:
        _BUSY = False


def _worker_stop(signum, frame) -> None:
    if _BUSY:
        raise KeyboardInterrupt  # unwind the job: its temporary files are removed
    os._exit(128 + signum)


def _init_worker(threads: int, engine: str | None, started=None) -> None:
    """A worker process's own settings (it is ours alone): signals, and its share of the cores.
    ``engine``: the network engine of a ``net`` batch (``merge.engine``), None for the others.
    ``started``: a queue the worker says each bracket's name on as it starts it."""
    global _IN_WORKER, _STARTED
    _IN_WORKER = True
    _STARTED = started
    # Ctrl-C and a hang-up reach the whole process group: the parent stops the workers (with SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_stop)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        cv2.setNumThreads(threads)
    except ImportError:
        pass
    from selfhdr_cli.merge.device import configure_cpu, keep_freed_memory

    if engine is not None:
        configure_cpu(threads, torch_settings=engine == "torch")
    else:
        keep_freed_memory()


def run_batch(jobs: list[BracketJob], config: MergeConfig, workers: int = 1) -> Iterator[JobResult]:
    """Yield each job's result as it finishes. With ``workers`` > 1 the jobs run in that many
    processes, each with cores // workers threads; Ctrl-C, SIGTERM or SIGHUP stops them all and
    their temporary files are removed. A worker that dies (killed, out of memory) fails the
    brackets still in flight, with a message saying so, and the run goes on to its end."""
    cores = available_cores()
    if workers <= 1:
        for job in jobs:
            yield _run_one((job, config))
        return
    threads = max(1, cores // workers)
    engine = None
    if config.method == "net":
        from selfhdr_cli.io.weights_file import default_weights
        from selfhdr_cli.merge.engine import network_engine

        engine = network_engine(config.weights or default_weights(), config.device, config.tile)
    context = multiprocessing.get_context("spawn")
    pending, unexplained = list(jobs), 0
    with _hangup_ignored():  # the helpers started now inherit it: the parent alone answers a hang-up
        resource_tracker.ensure_running()
    while pending:  # a pool whose worker died is replaced; the brackets it had not finished go on
        started = context.SimpleQueue()  # (pid, bracket) from each worker as it starts one
        executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                       initargs=(threads, engine, started))
        culprits: set[str] | None = None
        processes: dict = {}
        try:
            with _hangup_ignored():
                futures = {executor.submit(_run_one, (job, config)): job for job in pending}
            # the workers, now: a broken pool forgets them (a pool never replaces one, so this is all of them)
            processes = dict(getattr(executor, "_processes", None) or {})
            for future in as_completed(futures):
                job = futures[future]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    if culprits is None:
                        culprits = _dead_workers_brackets(processes, started)
                        if not culprits:  # a worker died between brackets: nothing lost, but only once
                            unexplained += 1
                            culprits = {j.name for j in pending} if unexplained > 1 else set()
                    if job.name not in culprits:
                        continue  # not the dead worker's: merged in the next pool
                    result = _failed(job, "the worker process merging it died (killed, or out of memory); "
                                          "rerun to retry")
                pending.remove(job)
                yield result
        except BaseException:
            _stop_workers(processes or getattr(executor, "_processes", None) or {})  # they unwind, cleaning up
            raise
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            started.close()
            # a worker stopped between creating a temporary file and the block that removes it leaves one:
            # its process is gone now, so the file is stale
            for job in pending:
                for target in (job.output, job.preview):
                    if target is not None:
                        remove_stale_parts(target)


@contextmanager
def _hangup_ignored() -> Iterator[None]:
    """SIGHUP ignored while helper processes start (an ignored signal stays ignored across exec;
    a handler does not): a closed terminal then stops them through the parent, which cleans up,
    rather than killing the resource tracker and the workers mid-write."""
    if not hasattr(signal, "SIGHUP"):
        yield
        return
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def _dead_workers_brackets(processes: dict, started) -> set[str]:
    """The brackets that the workers which died on their own were merging: ``processes`` (pid →
    process) that ended by a signal (not those the pool stopped afterwards: SIGTERM, which they
    answer with exit 130 or 143)."""
    current: dict[int, str] = {}
    while not started.empty():
        pid, name = started.get()
        current[pid] = name
    for process in processes.values():
        process.join(timeout=5)  # the pool stops the survivors: wait for every exit code
    dead = {pid for pid, process in processes.items()
            if process.exitcode not in (None, 0, 130, 128 + signal.SIGTERM, -signal.SIGTERM)}
    return {current[pid] for pid in dead if pid in current}


def _failed(job: BracketJob, why: str) -> JobResult:
    return JobResult(name=job.name, inputs=[str(p) for p in job.frames], output=str(job.output), status="failed",
                     error=why)


def _stop_workers(processes: dict) -> None:
    """SIGTERM to every worker in ``processes`` (pid → process; the standard library only gains a
    public way to stop a pool's workers in 3.14)."""
    for process in list(processes.values()):
        if process.is_alive():
            process.terminate()
