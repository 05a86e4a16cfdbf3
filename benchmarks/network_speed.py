"""Fast network vs AHDRNet: seconds, peak memory, parameters and MACs for one merge.

Each network runs in its own process (so peak RSS is its own) on the same synthetic
1500×1000 bracket, through the product's path: flow alignment where the network wants
it, then tiled inference with the default tile. Seconds exclude interpreter and
library start-up (a warm-up call runs first) and include alignment.

    python benchmarks/network_speed.py [--size 1500x1000] [--networks fastnet,ahdrnet] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def measure(name: str, width: int, height: int, threads: int | None, repeat: int) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from selfhdr_cli.merge.align import AlignConfig, align_bracket
    from selfhdr_cli.merge.device import configure_cpu
    from selfhdr_cli.merge.infer import TileConfig, predict
    from selfhdr_cli.nets import build_network, count_parameters
    from selfhdr_cli.radiometry.response import CameraResponse

    configure_cpu(threads)
    torch.manual_seed(0)
    net = build_network(name).eval().to(memory_format=torch.channels_last)  # as merge_with_network does
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        x = torch.rand(1, 3, 6, 128, 128)
        net(x, x)
    macs_per_pixel = counter.get_total_flops() / 2 / (128 * 128)
    rng = np.random.default_rng(0)
    base = rng.random((height // 8, width // 8, 3), dtype=np.float32)
    import cv2

    radiance = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC) ** 3
    g = CameraResponse("gamma")
    frames = [g.from_linear(np.clip(radiance * t, 0, 1)) for t in (1.0, 4.0, 16.0)]
    times = np.array([1.0, 4.0, 16.0], np.float32)

    def run(fr):
        aligned = align_bracket(fr, times, 1, g, AlignConfig()) if net.needs_alignment else None
        return predict(net, fr, aligned, times, g, TileConfig())

    run([f[:128, :128] for f in frames])  # warm-up: first-call allocations and kernel selection
    seconds = float("inf")
    for _ in range(repeat):  # best of N: this machine is shared and noisy (±30 %)
        t0 = time.perf_counter()
        run(frames)
        seconds = min(seconds, time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"network": name, "seconds": seconds, "peak_rss_mb": peak_mb, "params": count_parameters(net),
            "macs_per_pixel": macs_per_pixel, "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1500x1000")
    ap.add_argument("--networks", default="fastnet,ahdrnet")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    if args.one:
        print(json.dumps(measure(args.one, width, height, args.threads, args.repeat)))
        return
    rows = []
    for name in args.networks.split(","):
        cmd = [sys.executable, __file__, "--one", name, "--size", args.size, "--repeat", str(args.repeat)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"| network | params | MAC / pixel | s per {args.size} merge (best of {args.repeat}) | peak RSS (MB) | threads |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['network']} | {r['params'] / 1e6:.3f} M | {r['macs_per_pixel'] / 1e3:.1f} k | {r['seconds']:.2f} | "
              f"{r['peak_rss_mb']:.0f} | {r['threads']} |")
    if len(rows) == 2:
        print(f"\nspeed-up {rows[1]['seconds'] / rows[0]['seconds']:.1f}x, "
              f"MAC ratio {rows[1]['macs_per_pixel'] / rows[0]['macs_per_pixel']:.0f}x")


if __name__ == "__main__":
    main()
