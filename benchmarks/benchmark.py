"""The project's labelled dynamic benchmark: every method, one table.

Builds (once, then reuses) 24 dynamic + 6 static scenes at 512×384 from the held-out
radiance maps (``selfhdr_cli.evaluation.synth.BENCHMARK_MAPS``, ``--split benchmark``; no training
data may use them), exactly as these commands would:

    selfhdr synth ../shared/data/hdr benchmarks/data --split benchmark --scenes 24 --seed 2024 --prefix dyn_
    selfhdr synth ../shared/data/hdr benchmarks/data --split benchmark --scenes 6 --seed 2025 --prefix static_ --static

then merges every scene with each method and prints method × PSNR-μ, PSNR-l, SSIM-μ,
SSIM-l and seconds per scene, for the dynamic and the static scenes.

    python benchmarks/benchmark.py [--hdr ../shared/data/hdr] [--data benchmarks/data] [--methods ref,debevec,color,net]
        [--model "NAME=weights.safetensors" ...]

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
from selfhdr_cli.merge.method import MergeConfig

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
    ap.add_argument("--methods", default="ref,debevec,color,net")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=WEIGHTS",
                    help="an extra row: network weights scored with --method net")
    args = ap.parse_args()
    t0 = time.perf_counter()
    build(args.hdr, args.data)
    print(f"benchmark data: {args.data} (built/checked in {time.perf_counter() - t0:.1f} s)\n")
    header = "| method | scenes | PSNR-μ | PSNR-l | SSIM-μ | SSIM-l | PU21-PSNR* | s / scene |"
    print(header)
    print("|" + "---|" * 8)
    rows = [(m, MergeConfig(method=m)) for m in args.methods.split(",") if m]
    for spec in args.model:
        name, _, weights = spec.partition("=")
        rows.append((name, MergeConfig(method="net", weights=weights)))
    for method, config in rows:
        results = evaluate_method(args.data, config)
        for group, row in summarise(results).items():
            if group == "all":
                continue
            print(f"| {method} | {group} ({row['scenes']}) | {row['psnr_mu']:.2f} | {row['psnr_l']:.2f} | "
                  f"{row['ssim_mu']:.4f} | {row['ssim_l']:.4f} | {row['pu21_psnr']:.2f} | {row['seconds']:.3f} |")
    print("\n* PU21-PSNR: perceptual extra (Mantiuk & Azimi 2021), H = 1 shown at 1000 cd/m²; not SPEC §6")
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
