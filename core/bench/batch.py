"""Benchmark a batch on Ray: items/s and tiles/s with 1 and 2 model workers, and each worker's peak memory."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from typing import Any, Optional

from core.bench.tiling import make_scene


def make_rasters(folder: str, count: int, size: int) -> list[str]:
    """``count`` synthetic ``size`` x ``size`` GeoTIFFs (fields of a few colours, UTM 18N) in ``folder``."""
    first = os.path.join(folder, "scene_000.tif")
    make_scene(first, size)
    paths = [first]
    for i in range(1, count):  # copies: every item does the same work, so runs compare
        paths.append(os.path.join(folder, f"scene_{i:03d}.tif"))
        shutil.copyfile(first, paths[-1])
    return paths


def steady_rate(rows: list[dict[str, Any]]) -> float:
    """Items/s once each worker has its model: per worker, its items after the first over the seconds they took,
    summed over workers (the model's throughput without Ray's start-up and the model load)."""
    by_worker: dict[str, list[float]] = {}
    for r in sorted(rows, key=lambda r: r.get("finished_at") or ""):
        if r.get("status") == "done" and r.get("worker"):
            by_worker.setdefault(r["worker"], []).append(float(r["seconds"]))
    rate = 0.0
    for seconds in by_worker.values():
        later = seconds[1:]
        if later and sum(later) > 0:
            rate += len(later) / sum(later)
    return rate


def run_once(task: str, inputs: str, out: str, workers: int, cpus: float, args: argparse.Namespace) -> dict[str, Any]:
    """One batch with ``workers`` actors of ``cpus`` CPUs each; its figures."""
    from core.batch.output import RESULTS, read_rows
    from core.batch.ray_run import BatchOptions, run_batch
    from core.batch.tasks import TaskSpec
    from core.config import EngineConfig

    spec = TaskSpec(task, question="What could this area be used for?" if task == "ask" else None,
                    prompt="the fields" if task == "ground" else None)
    config = EngineConfig.from_user(model=args.model, backend=args.backend, device=args.device, tile=args.tile,
                                    overlap=args.overlap, batch_size=args.batch_size)
    options = BatchOptions(workers=workers, cpus_per_worker=cpus, gpus_per_worker=args.gpus_per_worker,
                           grid=args.grid)
    t0 = time.perf_counter()
    summary = run_batch(spec, inputs, out, config, options)
    wall = time.perf_counter() - t0
    rows = read_rows(os.path.join(out, RESULTS))
    tiles = sum(int(r.get("tiles") or 0) for r in rows)
    load = max((float(r.get("load_seconds") or 0.0) for r in rows), default=0.0)
    return {
        "workers": workers, "cpus_per_worker": cpus, "gpus_per_worker": summary.gpus_per_worker,
        "items": summary.done, "failed": summary.failed, "tiles": tiles, "seconds": round(wall, 2),
        "items_per_s": round(summary.done / wall, 3), "tiles_per_s": round(tiles / wall, 2),
        "steady_items_per_s": round(steady_rate(rows), 3),
        "steady_tiles_per_s": round(steady_rate(rows) * tiles / max(summary.done, 1), 2),
        "first_item_s": round(load, 2), "peak_mb_per_worker": {k: round(v) for k, v in summary.peak_mb.items()},
        "device": sorted({r.get("device") or "" for r in rows}),
    }  # fmt: skip


def main(argv: Optional[list[str]] = None) -> int:
    """CLI: ``python -m core bench batch [--items 8] [--size 1024] [--task segment] [--workers 1,2]``."""
    p = argparse.ArgumentParser(prog="python -m core bench batch", description=__doc__)
    p.add_argument("--items", type=int, default=8, help="rasters in the batch")
    p.add_argument("--size", type=int, default=1024, help="raster width = height in pixels")
    p.add_argument("--task", default="segment", choices=("segment", "caption", "ask", "ground", "classify"))
    p.add_argument("--workers", default="1,2", help="worker counts to compare, e.g. 1,2")
    p.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray (default: this machine's)")
    p.add_argument("--gpus-per-worker", type=float, default=None, help="default: 1 when Ray sees GPUs, else 0")
    p.add_argument("--grid", type=int, default=None, help="cut each raster into cells of N pixels")
    p.add_argument("--model", default="default", help="'default' (resources/model), 'tiny' or a checkpoint")
    p.add_argument("--backend", default=None, help="auto, torch or onnx (default the engine's)")
    p.add_argument("--device", default=None, help="auto, cpu or cuda (default the engine's)")
    p.add_argument("--tile", type=int, default=None)
    p.add_argument("--overlap", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    import ray

    from core.batch.ray_run import start_ray

    cpus = args.cpus or os.cpu_count() or 1
    tmp = tempfile.mkdtemp(prefix="earthask-bench-batch-")
    try:
        inputs = os.path.join(tmp, "in")
        os.mkdir(inputs)
        make_rasters(inputs, args.items, args.size)
        start_ray(num_cpus=cpus)
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        results = []
        for w in counts:
            per = max(1.0, float(cpus // w))  # the same CPUs shared out, so the runs compare
            results.append(run_once(args.task, inputs, os.path.join(tmp, f"out_{w}"), w, per, args))
        ray.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"batch {args.task}: {args.items} rasters of {args.size} x {args.size} px, model {args.model}, "
          f"local Ray with {cpus} CPUs and {gpus:g} GPUs")
    for r in results:
        print(f"  {r['workers']} worker(s) x {r['cpus_per_worker']:g} CPU / {r['gpus_per_worker']:g} GPU: "
              f"{r['items_per_s']:.3f} items/s, {r['tiles_per_s']:.2f} tiles/s over {r['seconds']:.1f} s "
              f"({r['items']} items, {r['tiles']} tiles, {r['failed']} failed); once loaded "
              f"{r['steady_items_per_s']:.3f} items/s, {r['steady_tiles_per_s']:.2f} tiles/s; "
              f"first item {r['first_item_s']:.1f} s; peak MB per worker {list(r['peak_mb_per_worker'].values())}; "
              f"device {','.join(r['device'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
