"""The project's labelled dynamic benchmark: every method, one table.

Builds (once, then reuses) 24 dynamic + 6 static scenes at 512×384 from the held-out
radiance maps (``selfhdr_cli.evaluation.synth.BENCHMARK_MAPS``, ``--split benchmark``; no training
data may use them), exactly as these commands would:

    selfhdr synth ../shared/data/hdr benchmarks/data --split benchmark --scenes 24 --seed 2024 --prefix dyn_
    selfhdr synth ../shared/data/hdr benchmarks/data --split benchmark --scenes 6 --seed 2025 --prefix static_ --static

then merges every scene with each method and prints method × PSNR-μ, PSNR-l, SSIM-μ,
SSIM-l and seconds per scene, for the dynamic and the static scenes; then ``net`` against
the default ``color`` scene by scene; then the **camera group** (``benchmarks/data_camera``:
12 dynamic and 4 static scenes from the same maps through ``synth --camera realistic``, seeds
2026 and 2027), each method as ``merge`` runs it.

    python benchmarks/benchmark.py [--hdr ../shared/data/hdr] [--data benchmarks/data]
        [--methods ref,debevec,color-paper,color-before,color,net] [--model "NAME=weights.safetensors" ...]
        [--camera-methods debevec,color-before,color]

``color-paper`` is SPEC §2's colour component (triangle merge behind the flow alone);
``color-before`` the SNR merge before the seam settings (``Seams.hard()``) and, in the camera
group, under gamma 2.2: the default at the start of the real-bracket work.

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

import numpy as np

from selfhdr_cli.evaluation.evaluate import evaluate_method, summarise
from selfhdr_cli.evaluation.metrics import score_hdr
from selfhdr_cli.io.dataset import GROUND_TRUTH_FILE, labelled_scenes, scene_frames, scene_is_static
from selfhdr_cli.io.hdrfile import read_hdr_image
from selfhdr_cli.merge.align import AlignConfig
from selfhdr_cli.merge.bracket import load_bracket
from selfhdr_cli.merge.method import MergeConfig, merge_bracket
from selfhdr_cli.merge.snr import Seams
from cli_defaults import settings  # noqa: E402

HERE = Path(__file__).resolve().parent
SYNTH = [("dyn_", 24, 2024, []), ("static_", 6, 2025, ["--static"])]
CAMERA_SYNTH = [("camdyn_", 12, 2026, ["--camera", "realistic"]),
                ("camstatic_", 4, 2027, ["--camera", "realistic", "--static"])]


def build(hdr: Path, data: Path, groups=SYNTH) -> None:
    for prefix, n, seed, extra in groups:
        cmd = [sys.executable, "-m", "selfhdr_cli", "synth", str(hdr), str(data), "--split", "benchmark",
               "--scenes", str(n), "--seed", str(seed), "--prefix", prefix, "--size", "512x384", *extra]
        subprocess.run(cmd, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hdr", type=Path, default=HERE.parents[1] / "shared" / "data" / "hdr")
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument("--methods", default="ref,debevec,color-paper,color-before,color,net")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=WEIGHTS",
                    help="an extra row: network weights scored with --method net")
    ap.add_argument("--camera", type=Path, default=HERE / "data_camera",
                    help="the camera group's folder (realistic camera: own tone curve, JPEG, handheld)")
    ap.add_argument("--camera-methods", default="debevec,color-before,color")
    args = ap.parse_args()
    t0 = time.perf_counter()
    build(args.hdr, args.data)
    build(args.hdr, args.camera, CAMERA_SYNTH)
    print(f"benchmark data: {args.data} (built/checked in {time.perf_counter() - t0:.1f} s)\n")
    header = "| method | scenes | PSNR-μ | PSNR-l | SSIM-μ | SSIM-l | PU21-PSNR* | s / scene |"
    print(header)
    print("|" + "---|" * 8)
    paper = MergeConfig(bracket=settings(), method="color", color_merge="triangle", align=AlignConfig(rigid_motion="none"))
    special = {"color-paper": paper, "color-before": MergeConfig(bracket=settings(), method="color", seams=Seams.hard())}
    rows = [(m, special.get(m) or MergeConfig(bracket=settings(), method=m)) for m in args.methods.split(",") if m]
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
    camera_table(args.camera, args.camera_methods.split(","))
    if "net" in scored and "color" in scored:
        per_scene(scored["net"], scored["color"])
    print(f"total {time.perf_counter() - t0:.1f} s")


def camera_table(data: Path, methods: list[str]) -> None:
    """The camera group: each method as the command line runs it (``--crf auto``: each bracket's own
    fitted response), ``color-before`` the merge before the seam and response work (gamma 2.2, hard
    seams). Exposures are exact by construction and not checked (under gamma 2.2 a camera curve far
    from it can make the check refuse them). PSNR-μ as scored, and after one global scale (an LDR
    bracket cannot know its absolute radiometric scale; the DNG test scores the same way)."""
    auto = settings(trust_exposures=True, fit_response=True)
    before = settings(trust_exposures=True)
    configs = {"color-before": MergeConfig(bracket=before, method="color", seams=Seams.hard()),
               "debevec-gamma": MergeConfig(bracket=before, method="debevec")}
    print(f"\ncamera group ({data.name}): realistic camera, benchmark split\n")
    print("| method | scenes | PSNR-μ | PSNR-μ, scaled | PSNR-l | SSIM-μ |\n|---|---|---|---|---|---|")
    for method in methods:
        config = configs.get(method) or MergeConfig(bracket=auto, method=method)
        rows = {"dynamic": [], "static": []}
        for scene in labelled_scenes(data):
            bracket = load_bracket(scene_frames(scene), config.bracket)
            hdr = merge_bracket(bracket, config)
            gt = read_hdr_image(scene / GROUND_TRUTH_FILE)
            ok = (gt > 1e-3) & (gt < 0.9)
            scale = float(np.exp(np.median(np.log(np.maximum(hdr[ok], 1e-8) / gt[ok]))))
            plain, scaled = score_hdr(hdr, gt), score_hdr(hdr / scale, gt)
            rows["static" if scene_is_static(scene) else "dynamic"].append(
                (plain.psnr_mu, scaled.psnr_mu, plain.psnr_l, plain.ssim_mu))
        for group, values in rows.items():
            if values:
                mean = np.mean(values, axis=0)
                print(f"| {method} | {group} ({len(values)}) | {mean[0]:.2f} | {mean[1]:.2f} | {mean[2]:.2f} | "
                      f"{mean[3]:.4f} |", flush=True)


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
