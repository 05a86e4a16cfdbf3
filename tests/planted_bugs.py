"""Planted bugs: each must make at least one test fail ("tests that can tell").

Usage (from the project folder)::

    .venv/bin/python tests/planted_bugs.py                 # every bug
    .venv/bin/python tests/planted_bugs.py lr-zero raw-ignores-wb
    .venv/bin/python tests/planted_bugs.py --list
    .venv/bin/python tests/planted_bugs.py --baseline      # also run the test files on the unmodified copy
    .venv/bin/python tests/planted_bugs.py --tests-from HEAD~1   # the bugs against an older revision's tests

For each bug the project is copied (without .venv, .git, *.egg-info and caches) into a temporary
folder, the bug is planted there (an exact text replacement, which must match exactly once, or a
function that edits the copy), and the bug's test files run from that folder with
``python -m pytest -q -x -p no:cacheprovider`` and PYTHONPATH set to the copy, so that the copy's
``selfhdr_cli`` is what runs, in pytest and in the subprocesses it starts (``python -m
selfhdr_cli``, torchrun). A sanity run first checks that the copy's package and weights are the
ones imported. CAUGHT: pytest failed a test (exit 1, naming the first failure); MISSED: every test
passed; BROKEN: pytest could not run the tests (collection error, crash): not a catch. Exit 1
unless every bug is CAUGHT.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
IGNORE = shutil.ignore_patterns(".venv", ".git", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
                                ".mypy_cache", ".ruff_cache", "*.pyc", "*.selfhdr")
TIMEOUT_S = 600


@dataclass
class Bug:
    name: str
    plants: str                                   # what the bug does, in words
    tests: list[str]                              # test files (or node ids) to run, relative to the project
    edits: list[tuple[str, str, str]] = field(default_factory=list)  # (file, exact old text, new text)
    action: Callable[[Path, dict], None] | None = None                # or a function of (copy, env)


def _untrained_shipped_weights(copy: Path, env: dict) -> None:
    """Replace the copy's shipped weights by an untrained guided FastNet, saved with the same metadata."""
    code = textwrap.dedent("""
        import torch
        from selfhdr_cli.nets import build_network
        from selfhdr_cli.nets.weights import default_weights, read_weights_metadata, save_weights
        path = default_weights()
        meta = read_weights_metadata(path)
        torch.manual_seed(12345)
        save_weights(path, build_network(meta["network"], meta["config"]), meta["network"], meta["info"])
        print(path)
    """)
    out = subprocess.run([str(PYTHON), "-c", code], cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"could not write the untrained weights:\n{out.stderr[-2000:]}")
    written = Path(out.stdout.strip().splitlines()[-1])
    if copy.resolve() not in written.resolve().parents:
        raise RuntimeError(f"the untrained weights went to {written}, not into the copy {copy}")


GUARD_PEEKS = '''    import json as _json
    from selfhdr_cli.io.hdrfile import read_hdr_image as _read_hdr
    for _scene in scenes:  # PLANTED: the guard looks at the held-out brackets' ground truth when there is one
        _meta = _json.loads((Path(_scene.frames.filename).parents[1] / "meta.json").read_text())
        _truth = Path(_meta["frame_paths"][0]).parent / "HDRImg.hdr"
        if _truth.is_file():
            _read_hdr(_truth)
    rng = np.random.default_rng(GUARD_SEED)
'''
GUARD_OPENS = GUARD_PEEKS.replace("    from selfhdr_cli.io.hdrfile import read_hdr_image as _read_hdr\n",
                                  "").replace("_read_hdr(_truth)", "_truth.read_bytes()")
RAW_CALL = '''                use_camera_wb=options.white_balance == "camera",
                user_wb=[1.0, 1.0, 1.0, 1.0] if options.white_balance == "none" else None,
                output_color=rawpy.ColorSpace.sRGB if options.space == "srgb" else rawpy.ColorSpace.raw)'''
SAMPLED = '''    a = frame_a.reshape(-1, 3)[pixels].reshape(-1)
    b = frame_b.reshape(-1, 3)[pixels].reshape(-1)'''
INIT_SETUP = "            flags, flags.preset or Preset.finetune, flow=start.flow,"

BUGS = [
    Bug("shipped-untrained", "weights/selfhdr-fastnet.safetensors replaced by an untrained guided FastNet "
        "(build_network + save_weights, the same metadata)", ["tests/test_shipped_weights.py"],
        action=_untrained_shipped_weights),
    Bug("lr-zero", "training/loop.py: the learning rate forced to 0 (the weights never move)", ["tests/test_train.py"],
        [("selfhdr_cli/training/loop.py", 'group["lr"] = lr\n', 'group["lr"] = 0.0\n')]),
    Bug("guard-margin", "training/finetune.py: GUARD_MARGIN 0.5 % → 0", ["tests/test_finetune.py"],
        [("selfhdr_cli/training/finetune.py", "GUARD_MARGIN = 0.005 ", "GUARD_MARGIN = 0.0 ")]),
    Bug("guard-margin-unchecked", "training/finetune.py: the margin test dropped (any lower loss replaces the start)",
        ["tests/test_finetune.py"],
        [("selfhdr_cli/training/finetune.py", "best_loss < start_loss * (1 - GUARD_MARGIN)", "best_loss < start_loss")]),
    Bug("raw-ignores-options", "io/raw.py: read_raw always develops with the camera white balance into sRGB",
        ["tests/test_raw.py"],
        [("selfhdr_cli/io/raw.py", RAW_CALL, "                use_camera_wb=True, user_wb=None, "
                                             "output_color=rawpy.ColorSpace.sRGB)")]),
    Bug("raw-ignores-wb", "io/raw.py: --wb none ignored (always the camera white balance)", ["tests/test_raw.py"],
        [("selfhdr_cli/io/raw.py", 'use_camera_wb=options.white_balance == "camera",\n'
                                   '                user_wb=[1.0, 1.0, 1.0, 1.0] if options.white_balance == "none" else None,',
          "use_camera_wb=True,\n                user_wb=None,")]),
    Bug("raw-ignores-space", "io/raw.py: --raw-space camera ignored (always sRGB)", ["tests/test_raw.py"],
        [("selfhdr_cli/io/raw.py", 'output_color=rawpy.ColorSpace.sRGB if options.space == "srgb" else rawpy.ColorSpace.raw',
          "output_color=rawpy.ColorSpace.sRGB")]),
    Bug("finetune-reads-gt", "training/finetune.py: guard_score reads the held-out brackets' HDRImg.hdr "
        "(read_hdr_image) when there is one", ["tests/test_finetune.py"],
        [("selfhdr_cli/training/finetune.py", "    rng = np.random.default_rng(GUARD_SEED)\n", GUARD_PEEKS)]),
    Bug("finetune-opens-gt", "training/finetune.py: guard_score opens the held-out brackets' HDRImg.hdr "
        "(raw bytes, no HDR reader)", ["tests/test_finetune.py"],
        [("selfhdr_cli/training/finetune.py", "    rng = np.random.default_rng(GUARD_SEED)\n", GUARD_OPENS)]),
    Bug("build-color-ignores-crf", "training/caches.py: build_color_scene merges with the default response, "
        "not --crf", ["tests/test_build_color.py"],
        [("selfhdr_cli/training/caches.py", "    result = build_color(decoded, config)\n",
          "    from dataclasses import replace as _replace\n"
          "    from selfhdr_cli.radiometry.response import DEFAULT_RESPONSE as _DEFAULT\n"
          "    result = build_color(decoded, _replace(config, response=_DEFAULT))\n")]),
    Bug("build-color-decodes-default", "training/caches.py: build_color_scene decodes (and checks the exposures "
        "of) the frames with the default response", ["tests/test_build_color.py"],
        [("selfhdr_cli/training/caches.py", "    decoded = decode_plan(plan, bracket)\n",
          "    from selfhdr_cli.merge.bracket import bracket_settings as _settings\n"
          "    from selfhdr_cli.radiometry.response import DEFAULT_RESPONSE as _DEFAULT\n"
          "    decoded = decode_plan(plan, _settings(_DEFAULT, bracket.raw.white_balance, bracket.raw.space,\n"
          "                                          bracket.trust_exposures))\n")]),
    Bug("exposure-check-one-channel", "radiometry/exposure_ratio.py: measure_exposure_ratio samples channel 0 only",
        ["tests/test_exposure.py"],
        [("selfhdr_cli/radiometry/exposure_ratio.py", SAMPLED,
          "    a = frame_a.reshape(-1, 3)[pixels][:, [0, 0, 0]].reshape(-1)\n"
          "    b = frame_b.reshape(-1, 3)[pixels][:, [0, 0, 0]].reshape(-1)")]),
    Bug("init-drops-flags", "cli/training.py: train --init drops --vgg-weights/--val-every/--sp-weight/--masked-frames",
        ["tests/test_finetune.py"],
        [("selfhdr_cli/cli/training.py", INIT_SETUP,
          '            __import__("dataclasses").replace(flags, vgg_weights=None, val_every=None, sp_weight=None,\n'
          '                                              masked_frames=None), flags.preset or Preset.finetune, '
          'flow=start.flow,')]),
    Bug("rigid-motion-tie", "merge/align.py: the rigid motion dropped on a tie (no margin; the OpenCV 5.0 / 5.1 "
        "flip; caught where the flip happens, e.g. OpenCV 5.1)", ["tests/test_build_color.py"],
        [("selfhdr_cli/merge/align.py", "GLOBAL_KEEP_MARGIN = 1.1\n", "GLOBAL_KEEP_MARGIN = 1.0\n")]),
    Bug("cache-keyed-by-path", "training/caches.py: the colour cache records the response by its file path, not "
        "its content (a recalibrated camera.json is not rebuilt)", ["tests/test_build_color.py"],
        [("selfhdr_cli/training/caches.py", '"response": config.response.identity,',
          '"response": str(config.response),')]),
    Bug("init-accepts-val", "cli/training.py: train --init silently accepts --val/--val-limit", ["tests/test_finetune.py"],
        [("selfhdr_cli/cli/training.py", "        if flags.val is not None or flags.val_limit:\n",
          "        if False:\n")]),
    Bug("init-ignores-preset", "cli/training.py: train --init always uses the finetune preset (an explicit --preset "
        "ignored)", ["tests/test_finetune.py"],
        [("selfhdr_cli/cli/training.py", "flags.preset or Preset.finetune,", "Preset.finetune,")]),
]


def scratch_env(copy: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SELFHDR_WEIGHTS", "PYTHONHOME")}
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def make_copy(parent: Path, name: str) -> Path:
    copy = parent / name
    shutil.copytree(ROOT, copy, ignore=IGNORE, symlinks=True)
    return copy


def plant(bug: Bug, copy: Path, env: dict) -> None:
    for rel, old, new in bug.edits:
        path = copy / rel
        text = path.read_text()
        count = text.count(old)
        if count != 1:
            raise SystemExit(f"{bug.name}: the old text is found {count} times in {rel} (expected once): "
                             f"update this list to the code\n--- old text ---\n{old}")
        path.write_text(text.replace(old, new))
        try:  # a planted bug must be a wrong program, not an unparsable one
            compile(path.read_text(), str(path), "exec")
        except SyntaxError as exc:
            raise SystemExit(f"{bug.name}: the planted {rel} does not compile: {exc}") from None
    if bug.action is not None:
        bug.action(copy, env)


def tests_from(rev: str, copy: Path, tests: list[str]) -> None:
    """Replace the copy's test files by those of git revision ``rev`` (to show what older tests missed)."""
    for rel in sorted({t.split("::")[0] for t in tests} | {"tests/conftest.py"}):
        old = subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=ROOT, capture_output=True, text=True)
        if old.returncode != 0:
            raise SystemExit(f"git show {rev}:{rel} failed: {old.stderr.strip()}")
        (copy / rel).write_text(old.stdout)


def sanity(parent: Path) -> None:
    """The copy's package, default weights and test modules are what a run there imports."""
    copy = make_copy(parent, "sanity")
    env = scratch_env(copy)
    code = ("import selfhdr_cli, selfhdr_cli.nets.weights as w; "
            "print(selfhdr_cli.__file__); print(w.default_weights())")
    out = subprocess.run([str(PYTHON), "-c", code], cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or len(lines) != 2:
        raise SystemExit(f"sanity run failed:\n{out.stderr[-2000:]}")
    for line in lines:
        if copy.resolve() not in Path(line).resolve().parents:
            raise SystemExit(f"sanity: {line} is not inside the copy {copy}: the planted code would not run")
    probe = copy / "tests" / "test_zz_planted_probe.py"
    probe.write_text("import selfhdr_cli, conftest, sys\n\n"
                     "def test_probe():\n"
                     f"    assert selfhdr_cli.__file__.startswith({str(copy)!r}), selfhdr_cli.__file__\n"
                     f"    assert conftest.__file__.startswith({str(copy)!r}), conftest.__file__\n")
    run = subprocess.run([str(PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe.relative_to(copy))],
                         cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        raise SystemExit(f"sanity: pytest in the copy does not import the copy's code:\n{run.stdout[-2000:]}")
    print(f"sanity: the copy's code runs ({lines[0]}; weights {lines[1]})", flush=True)
    shutil.rmtree(copy, ignore_errors=True)


def run_tests(copy: Path, env: dict, tests: list[str]) -> tuple[int, str]:
    cmd = [str(PYTHON), "-m", "pytest", "-q", "-x", "-rfE", "-p", "no:cacheprovider", *tests]
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        return 124, f"timed out after {TIMEOUT_S} s\n{(exc.stdout or '')[-2000:]}"
    return proc.returncode, proc.stdout + proc.stderr


def first_failure(output: str) -> str:
    m = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    return m.group(1) if m else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="bugs to plant (default: all)")
    parser.add_argument("--list", action="store_true", help="list the bugs and exit")
    parser.add_argument("--baseline", action="store_true", help="first run the test files on an unmodified copy")
    parser.add_argument("--tests-from", metavar="REV", help="use git revision REV's test files (conftest too)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    args = parser.parse_args(argv)
    if args.list:
        for bug in BUGS:
            print(f"{bug.name:28s} {bug.plants}  [{' '.join(bug.tests)}]")
        return 0
    known = {b.name: b for b in BUGS}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown bug(s) {', '.join(unknown)}; --list shows them")
    chosen = [known[n] for n in args.names] if args.names else BUGS
    started = time.perf_counter()
    parent = Path(tempfile.mkdtemp(prefix="selfhdr-planted-"))
    rows = []
    try:
        sanity(parent)
        if args.baseline:
            files = sorted({t for b in chosen for t in b.tests})
            copy = make_copy(parent, "baseline")
            if args.tests_from:
                tests_from(args.tests_from, copy, files)
            code, output = run_tests(copy, scratch_env(copy), files)
            print(f"baseline (unmodified code): {'pass' if code == 0 else 'FAIL ' + first_failure(output)}", flush=True)
            if code != 0:
                print(output[-4000:])
                return 1
        for bug in chosen:
            t0 = time.perf_counter()
            copy = make_copy(parent, bug.name)
            env = scratch_env(copy)
            if args.tests_from:
                tests_from(args.tests_from, copy, bug.tests)
            plant(bug, copy, env)
            code, output = run_tests(copy, env, bug.tests)
            failed = first_failure(output)
            result = "CAUGHT" if code == 1 and failed else "MISSED" if code == 0 else "BROKEN"
            rows.append((bug.name, result, failed or f"pytest exit {code}", time.perf_counter() - t0))
            print(f"{bug.name:28s} {result:7s} {rows[-1][2]} ({rows[-1][3]:.0f} s)", flush=True)
            if result == "BROKEN":
                print(textwrap.indent(output[-3000:], "    "))
            if not args.keep:
                shutil.rmtree(copy, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(parent, ignore_errors=True)
    width = max(len(r[0]) for r in rows) if rows else 4
    print()
    print(f"{'bug':{width}s}  result  seconds  first failing test")
    for name, result, failed, seconds in rows:
        print(f"{name:{width}s}  {result:6s}  {seconds:7.0f}  {failed}")
    missed = [r[0] for r in rows if r[1] != "CAUGHT"]
    print(f"\n{len(rows) - len(missed)}/{len(rows)} caught in {time.perf_counter() - started:.0f} s"
          + (f"; not caught: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
