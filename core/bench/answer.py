"""``bench answer``: time to answer a measured question on the demo scene, from a cold engine and warm."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo" / "sentinel2_demo.tif"
QUESTION = "What percentage of the scene is water?"  # answered by the measurement (land cover)
SECOND = "How much of the area is forest?"  # the warm one: same area, the model and segmentation are kept

# Runs in a fresh interpreter: the clock starts before the engine is imported, as a first question would.
_CHILD = """
import json, sys, time
start = time.perf_counter()
from core.config import EngineConfig
from core.engine import Engine
config = EngineConfig.from_user(**json.loads(sys.argv[1]))
with Engine(config) as engine:
    first = engine.ask(sys.argv[2], sys.argv[3])
    cold = time.perf_counter() - start
    t0 = time.perf_counter()
    second = engine.ask(sys.argv[2], sys.argv[4])
    warm = time.perf_counter() - t0
print("BENCH " + json.dumps({"cold_s": cold, "warm_s": warm, "answer": first.answer, "source": first.source,
                             "second_answer": second.answer, "second_source": second.source,
                             "backend": first.provenance.backend, "timings": first.provenance.timings}))
"""


def measure(raster: str, question: str, second: str, config: dict[str, Any]) -> dict[str, Any]:
    """Run the two questions in a fresh Python process; its figures plus the process's wall time."""
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(config), raster, question, second],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the benchmark process failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return {**json.loads(lines[-1][len("BENCH "):]), "process_s": wall}


def main(argv: Optional[list[str]] = None) -> int:
    """CLI: ``python -m core bench answer [--raster R] [--question Q] [--model M --backend B --device D]``."""
    p = argparse.ArgumentParser(prog="python -m core bench answer", description=__doc__)
    p.add_argument("--raster", default=str(DEMO), help="the scene (default: the demo, resources/demo)")
    p.add_argument("--question", default=QUESTION, help="the first (cold) question")
    p.add_argument("--second", default=SECOND, help="the second (warm) question, on the same engine")
    p.add_argument("--model", help="'default', 'tiny' or a checkpoint (default: the engine's)")
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), help="default: the engine's")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: the engine's")
    args = p.parse_args(argv)
    config = {k: v for k, v in {"model": args.model, "backend": args.backend, "device": args.device}.items() if v}
    f = measure(os.path.abspath(args.raster), args.question, args.second, config)
    steps = ", ".join(f"{k} {v:.2f} s" for k, v in f["timings"].items())
    print(f"raster       {args.raster}")
    print(f"backend      {f['backend']}")
    print(f"question     {args.question} -> {f['answer']} (source {f['source']})")
    print(f"second       {args.second} -> {f['second_answer']} (source {f['second_source']})")
    print(f"cold: {f['cold_s']:.2f} s (new engine in a fresh process: imports, model, segmentation, answer; "
          f"{f['process_s']:.2f} s with interpreter start)")
    print(f"warm: {f['warm_s']:.2f} s (second question on the same engine)")
    print(f"cold steps   {steps}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
