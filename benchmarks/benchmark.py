"""The project's labelled dynamic benchmark: every method, one table.

Builds (once, then reuses) 24 dynamic + 6 static scenes at 512×384 from the held-out
radiance maps (``selfhdr_cli.evaluation.synth.BENCHMARK_MAPS``, ``--split benchmark``; no training
data may use them), exactly as these commands would:

    selfhdr synth ../shared/data/hdr benchmarks/data --split benchmark --scenes 24 --seed 2024 --prefix dyn_
    selfhdr synth ../shared/data/hdr benchmarks/data --split benchmark --scenes 6 --seed 2025 --prefix static_ --static

then merges every scene with each method and prints method × PSNR-μ, PSNR-l, SSIM-μ,
SSIM-l and seconds per scene, for the dynamic and the static scenes; then the default
(``net``) against ``color`` scene by scene.

    python benchmarks/benchmark.py [--hdr ../shared/data/hdr] [--data benchmarks/data]
        [--methods ref,debevec,color-paper,color,net] [--model "NAME=weights.safetensors" ...]

``color-paper`` is SPEC §2's colour component (triangle merge behind the flow alone).

``net`` is the shipped default weights; each ``--model`` adds a row for other weights
(training/reproduce.sh makes them). The benchmark split is for this final table only:
no decision is made on it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from selfhdr_cli.evaluation.evaluate import evaluate_method, summarise
from selfhdr_cli.merge.align import AlignConfig
from selfhdr_cli.merge.method import MergeConfig
from cli_defaults import settings  # noqa: E402

HERE = Path(__file__).resolve().parent
SYNTH = [("dyn_", 24, 2024, []), ("static_", 6, 2025, ["--static"])]


def build(hdr: Path, data: Path) -> None:
    for prefix, n, seed, extra in SYNTH:
        cmd = [sys.executable, "-m", "selfhdr_cli", "synth", str(hdr), str(data), "--split", "benchmark",
               "--scenes", str(n), "--seed", str(seed), "--prefix", prefix, "--size", "512x384", *extra]
        subprocess.run(cmd, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hdr", type=Path, default=HERE.parents[1] / "shared" / "data" / "hdr")
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument("--methods", default="ref,debevec,color-paper,color,net")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=WEIGHTS",
                    help="an extra row: network weights scored with --method net")
    args = ap.parse_args()
    t0 = time.perf_counter()
    build(args.hdr, args.data)
    print(f"benchmark data: {args.data} (built/checked in {time.perf_counter() - t0:.1f} s)\n")
    header = "| method | scenes | PSNR-μ | PSNR-l | SSIM-μ | SSIM-l | PU21-PSNR* | s / scene |"
    print(header)
    print("|" + "---|" * 8)
    paper = MergeConfig(bracket=settings(), method="color", color_merge="triangle", align=AlignConfig(rigid_motion="none"))
    rows = [(m, paper if m == "color-paper" else MergeConfig(bracket=settings(), method=m)) for m in args.methods.split(",") if m]
    for spec in args.model:
        name, _, weights = spec.partition("=")
        rows.append((name, MergeConfig(bracket=settings(), method="net", weights=weights)))
    scored = {}
    for method, config in rows:
        results = scored[method] = evaluate_method(args.data, config)
        for group, row in summarise(results).items():
            if group == "all":
                continue
            print(f"| {method} | {group} ({row['scenes']}) | {row['psnr_mu']:.2f} | {row['psnr_l']:.2f} | "
                  f"{row['ssim_mu']:.4f} | {row['ssim_l']:.4f} | {row['pu21_psnr']:.2f} | {row['seconds']:.3f} |")
    print("\n* PU21-PSNR: perceptual extra (Mantiuk & Azimi 2021), H = 1 shown at 1000 cd/m²; not SPEC §6")
    if "net" in scored and "color" in scored:
        per_scene(scored["net"], scored["color"])
    print(f"total {time.perf_counter() - t0:.1f} s")


def per_scene(net: list, color: list, tie: float = 0.01) -> None:
    """The default against ``color``, scene by scene (PSNR-μ), with wins and losses counted."""
    print("\n| scene | color PSNR-μ | net PSNR-μ | Δ |\n|---|---|---|---|")
    deltas = []
    for a, b in zip(color, net):
        deltas.append(b.scores.psnr_mu - a.scores.psnr_mu)
        print(f"| {a.scene} | {a.scores.psnr_mu:.2f} | {b.scores.psnr_mu:.2f} | {deltas[-1]:+.2f} |")
    wins = sum(d > tie for d in deltas)
    losses = sum(d < -tie for d in deltas)
    print(f"\nnet vs color: {wins} wins, {losses} losses, {len(deltas) - wins - losses} ties (|Δ| ≤ {tie} dB); "
          f"Δ from {min(deltas):+.2f} to {max(deltas):+.2f} dB")


if __name__ == "__main__":
    main()
