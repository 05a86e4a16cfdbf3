"""Add the alignment a weights file was trained behind to its header, when the training run
predates the record (``flow`` and ``interpolation`` in ``info.config``).

The value must come from the run's own evidence: every scene's colour cache
(``<work>/<scene>/meta.json``) records the flow it was aligned with, and all must agree.

    python training/add_alignment_record.py WEIGHTS WORK_DIR OUT
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path)
    ap.add_argument("work", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    aligns = {json.dumps(json.loads(m.read_text())["align"], sort_keys=True) for m in args.work.glob("*/meta.json")}
    if len(aligns) != 1:
        raise SystemExit(f"the caches under {args.work} do not agree on one alignment: {aligns}")
    align = json.loads(aligns.pop())
    with safe_open(str(args.weights), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    info = json.loads(meta["info"])
    info["config"].update(align)
    info["alignment_recorded_from"] = f"{len(list(args.work.glob('*/meta.json')))} colour caches of the run"
    meta["info"] = json.dumps(info)
    save_file(tensors, str(args.out), metadata=meta)
    print(f"{args.out}: alignment {align}")


if __name__ == "__main__":
    main()
