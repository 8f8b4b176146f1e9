"""Benchmark tiled segmentation of a large synthetic GeoTIFF with the real model: tiles/s, ceiling, peak memory."""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from typing import Any, Optional

import numpy as np
import rasterio
from affine import Affine

from core.tiled import segment_raster
from core.tiling import tile_plan

STRIP = 256  # rows written per step when generating the scene


def rss_mb() -> tuple[float, float]:
    """``(current, peak)`` resident memory of this process in MiB (current is 0 where unknown)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    try:
        with open("/proc/self/statm") as f:
            current = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        current = 0.0
    return current, peak


def make_scene(path: str, size: int) -> None:
    """Write a ``size x size`` 3-band uint8 tiled DEFLATE GeoTIFF (UTM 18N) strip by strip.

    Fields of a few colours with noise; memory is O(size * STRIP), never the whole scene.
    """
    rng = np.random.default_rng(0)
    palette = rng.integers(30, 220, (64, 3), dtype=np.uint8)  # [64, 3] field colours
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
        "crs": "EPSG:32618", "transform": Affine(0.5, 0, 435730.0, 0, -0.5, 4179460.0), "tiled": True,
        "blockxsize": 256, "blockysize": 256, "compress": "deflate", "BIGTIFF": "IF_SAFER",
    }  # fmt: skip
    x = np.arange(size)
    tmp = path + ".partial.tif"
    with rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, size, STRIP):
            y = np.arange(r0, min(r0 + STRIP, size))
            warp = (y[:, None] // 7 + x[None, :] // 11) % 23  # wobbly field borders
            field = ((y[:, None] + warp) // 173 * 31 + (x[None, :] + warp) // 241 * 7) % 64  # [h, W]
            noise = rng.integers(0, 12, (3, len(y), size), dtype=np.uint8)
            strip = palette[field].transpose(2, 0, 1) + noise  # [3, h, W]
            dst.write(strip, window=rasterio.windows.Window(0, r0, size, len(y)))
    os.replace(tmp, path)


def build_predict(classes: int, threads: Optional[int] = None) -> Callable[[np.ndarray], np.ndarray]:
    """A small random convolutional segmenter (torch, CPU) as a ``predict`` callable."""
    import torch
    from torch import nn

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),  # [B, 16, H/2, W/2]
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),  # [B, 32, H/4, W/4]
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, classes, 1),  # [B, K, H/4, W/4]
        nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False),  # [B, K, H, W]
    ).eval()  # fmt: skip
    with torch.no_grad():
        model[6].weight.mul_(20.0)  # sharper random logits: several classes appear, not one

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = (torch.from_numpy(batch) - 0.5) * 4.0  # [B, 3, H, W] roughly zero-mean
            return torch.softmax(model(x), dim=1).numpy()  # [B, K, H, W]

    return predict


def real_predictor(args: argparse.Namespace) -> tuple[Callable[[np.ndarray], np.ndarray], list[str], str, Any]:
    """The engine's own segmentation predictor for ``args.model`` and ``args.backend`` (loaded through
    ``core.models_io`` as a segmentation loads it); returns it, the classes, the backend used, and the engine."""
    from core.config import EngineConfig
    from core.engine import Engine

    config = EngineConfig.from_user(model=args.model, device=args.device, backend=args.backend, tile=args.tile,
                                    overlap=args.overlap, batch_size=args.batch_size)
    engine = Engine(config)
    predict = engine._predictor()
    used = engine._backend + (f" ({', '.join(engine._providers)})" if engine._providers else "")
    return predict, engine.classes, f"{used}, device {engine.device}", engine


def cpu_s() -> float:
    """CPU seconds (user + system, all threads) this process has used."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def measure_ceiling(predict: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, calls: int,
                    warm_up: bool = True) -> tuple[float, float]:
    """``(tiles/s, CPU ms per tile)`` of ``predict`` alone on one in-memory batch, over ``calls`` calls (after
    one warm-up call unless ``warm_up`` is False)."""
    if warm_up:
        predict(batch)
    start, cpu = time.perf_counter(), cpu_s()
    for _ in range(calls):
        predict(batch)
    tiles = calls * len(batch)
    return tiles / (time.perf_counter() - start), (cpu_s() - cpu) * 1000 / tiles


def first_batch(src: str, args: argparse.Namespace) -> np.ndarray:
    """The scene's first ``batch_size`` planned tiles, read as the pipeline reads them: ``[B, C, t, t]``."""
    from core.raster import read_window, scene_profile

    profile = scene_profile(src)
    windows = [t.window for t in tile_plan(args.size, args.size, args.tile, args.overlap)][: args.batch_size]
    return np.stack([read_window(src, w, profile)[0] for w in windows])


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Generate (or reuse) the scene, load the predictor, measure its ceiling, segment, return the figures."""
    os.makedirs(args.workdir, exist_ok=True)
    src = os.path.join(args.workdir, f"bench_{args.size}.tif")
    gen_s = 0.0
    if not os.path.exists(src):
        t0 = time.perf_counter()
        make_scene(src, args.size)
        gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = None
    if args.stand_in:
        predict, classes = build_predict(args.classes, args.threads), [f"class{i}" for i in range(args.classes)]
        backend = "stand-in (small random torch CNN), device cpu"
    else:
        predict, classes, backend, engine = real_predictor(args)
    load_s = time.perf_counter() - t0
    tiles_total = len(tile_plan(args.size, args.size, args.tile, args.overlap))
    batch = first_batch(src, args)
    calls = args.ceiling_batches or max(2, min(8, -(-tiles_total // args.batch_size)))
    ceiling_before, ceiling_cpu = measure_ceiling(predict, batch, calls)
    rss_before, peak_before = rss_mb()
    out = os.path.join(args.workdir, f"bench_{args.size}_mask.tif")
    try:
        cpu0 = cpu_s()
        result = segment_raster(
            src, predict, classes, out, tile=args.tile, overlap=args.overlap, batch_size=args.batch_size,
            workdir=args.workdir,
        )  # fmt: skip
        cpu_per_tile = (cpu_s() - cpu0) * 1000 / result.tiles
        rss_after, peak = rss_mb()  # before the second ceiling, which allocates nothing new
        ceiling_after, _ = measure_ceiling(predict, batch, calls, warm_up=False)
    finally:
        if engine is not None:
            engine.close()
    ceiling = (ceiling_before + ceiling_after) / 2  # measured before and after: a busy machine drifts
    tile_px = min(args.tile, args.size) ** 2
    read_mb = result.tiles * tile_px * batch.shape[1] * 4 / 1e6
    tiles_per_s = result.tiles / result.seconds
    figures = {
        "size": args.size, "tile": args.tile, "overlap": args.overlap, "batch_size": args.batch_size,
        "backend": backend, "model": "stand-in" if args.stand_in else args.model, "load_s": load_s,
        "bands": int(batch.shape[1]), "tiles": result.tiles, "elapsed_s": result.seconds, "tiles_per_s": tiles_per_s,
        "ceiling_tiles_per_s": ceiling, "ceiling_calls": calls, "efficiency": tiles_per_s / ceiling,
        "ceiling_before_tiles_per_s": ceiling_before, "ceiling_after_tiles_per_s": ceiling_after,
        "ceiling_cpu_ms_per_tile": ceiling_cpu, "cpu_ms_per_tile": cpu_per_tile,
        "s_per_tile": result.seconds / result.tiles, "read_mb": read_mb, "read_mb_per_s": read_mb / result.seconds,
        "scene_mpx_per_s": args.size**2 / 1e6 / result.seconds, "generate_s": gen_s,
        "source_mb": os.path.getsize(src) / 1e6, "mask_mb": os.path.getsize(out) / 1e6,
        "scratch_mb": result.scratch_bytes / 1e6,
        "rss_before_mb": rss_before, "rss_after_mb": rss_after, "peak_rss_before_mb": peak_before,
        "peak_rss_mb": peak, **{f"{k}_s": v for k, v in result.timings.items()},
    }  # fmt: skip
    if not args.keep:
        os.remove(out)
    return figures


def main(argv: Optional[list[str]] = None) -> int:
    """CLI: ``python -m core bench tiling --size 8192 [--backend onnx|torch] [--tile 512 --overlap 64 ...]``."""
    parser = argparse.ArgumentParser(prog="python -m core bench tiling", description=__doc__)
    parser.add_argument("--size", type=int, default=8192, help="scene width = height in pixels")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--model", default="default", help="'default' (resources/model), 'tiny' or a checkpoint")
    parser.add_argument("--backend", default="auto", choices=("auto", "onnx", "torch"),
                        help="segmentation backend, as the engine's (auto: onnx on CPU, torch on CUDA)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--stand-in", action="store_true",
                        help="a small random torch CNN instead of the model (tests the pipeline, not the model)")
    parser.add_argument("--classes", type=int, default=8, help="classes of the stand-in model")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the stand-in (default torch's)")
    parser.add_argument("--ceiling-batches", type=int, default=0,
                        help="timed predict calls for the ceiling (default: up to 8, at most the scene's batches)")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "earthask-bench"),
                        help="where the generated scene is cached and the mask written")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the output mask")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    f = run(args)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(f, out, indent=1)
    print(
        f"scene        {f['size']} x {f['size']} px, 3-band uint8, {f['source_mb']:.0f} MB on disk"
        + (f" (generated in {f['generate_s']:.1f} s)" if f["generate_s"] else " (cached)")
    )
    print(f"model        {f['model']}, backend {f['backend']} (ready in {f['load_s']:.1f} s)")
    print(f"tiles        {f['tiles']} of {f['tile']} px, overlap {f['overlap']}, batch {f['batch_size']}, "
          f"{f['bands']} bands in")
    print(f"elapsed      {f['elapsed_s']:.1f} s ({f['s_per_tile'] * 1000:.0f} ms per tile)")
    print(f"tiles/s      {f['tiles_per_s']:.2f} end to end")
    print(f"ceiling      {f['ceiling_tiles_per_s']:.2f} tiles/s (the same predict alone on in-memory batches of "
          f"{f['batch_size']} x {f['tile']} px, {f['ceiling_calls']} calls before the run and again after: "
          f"{f['ceiling_before_tiles_per_s']:.2f} and {f['ceiling_after_tiles_per_s']:.2f})")
    print(f"efficiency: {f['efficiency'] * 100:.0f}% of ceiling")
    share = f["ceiling_cpu_ms_per_tile"] / f["cpu_ms_per_tile"] * 100
    print(f"cpu          {f['cpu_ms_per_tile']:.0f} ms per tile end to end (all threads), "
          f"{f['ceiling_cpu_ms_per_tile']:.0f} ms in predict alone: {share:.0f}% of the CPU went to the model "
          "(CPU time: less skewed than wall time by other jobs on the machine)")
    print(
        f"read         {f['read_mb']:.0f} MB of float32 pixels, {f['read_mb_per_s']:.1f} MB/s "
        f"({f['scene_mpx_per_s']:.2f} Mpx/s of scene)"
    )
    print(f"stages       read {f['read_s']:.1f} s, predict {f['predict_s']:.1f} s, blend+write {f['blend_s']:.1f} s "
          f"(read and blend in threads; the model waited {f['wait_s']:.1f} s)")
    print(f"mask         {f['mask_mb']:.1f} MB; blending scratch file {f['scratch_mb']:.0f} MB at most")
    print(f"rss          {f['rss_before_mb']:.0f} MiB before segmenting, {f['rss_after_mb']:.0f} MiB after")
    print(f"peak rss     {f['peak_rss_mb']:.0f} MiB (ru_maxrss; {f['peak_rss_before_mb']:.0f} MiB before segmenting)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
