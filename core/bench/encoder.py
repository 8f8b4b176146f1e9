"""``bench encoder``: segmenter (encoder + seg head) throughput, torch vs ONNX Runtime, CPU and CUDA (and TensorRT)."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core bench encoder", description=__doc__)
    p.add_argument("--model", default="efficientnet_lite0", help="vision_name: efficientnet_lite0 | tiny | HF dir")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="square tile sizes, pixels")
    p.add_argument("--batch", type=int, default=4, help="tiles per forward pass")
    p.add_argument("--warmup", type=int, default=2, help="untimed passes first")
    p.add_argument("--iters", type=int, default=5, help="timed passes (the median is reported)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch and ORT (0: their defaults)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="cuda rows when available")
    p.add_argument("--random-weights", action="store_true", help="skip loading the base weights")
    p.add_argument("--json", help="also write every row to this JSON file")
    return p


def _time(fn: Callable[[], Any], warmup: int, iters: int, sync: Callable[[], None] = lambda: None) -> float:
    """Median seconds of one call after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync()
    runs = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


ROW = "{:<26} {:<34} {:>5} {:>5} {:>9} {:>8} {:>8}"


def _row(rows: list[dict[str, Any]], backend: str, where: str, size: int, batch: int, seconds: float) -> None:
    """Print one row and keep it in ``rows``."""
    ms_batch, ms_tile, per_s = (
        f"{1000 * seconds:.1f}",
        f"{1000 * seconds / batch:.2f}",
        f"{batch / seconds:.1f}",
    )
    print(ROW.format(backend, where, size, batch, ms_batch, ms_tile, per_s))
    rows.append({"backend": backend, "where": where, "tile": size, "batch": batch, "ms_per_batch": 1000 * seconds,
                 "tiles_per_s": batch / seconds})


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one row per (backend, tile size); returns the exit status."""
    args = _parser().parse_args(argv)
    import torch

    from core.onnx_backend import OnnxSegmenter, import_onnxruntime
    from models.config import VLMConfig
    from models.onnx_export import export_segmenter
    from models.segmenter import Segmenter

    try:  # torch rows still run where onnx / onnxruntime are not installed (a bare GPU machine)
        import onnx  # noqa: F401

        ort = import_onnxruntime()
    except ImportError:
        ort = None

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = VLMConfig(vision_name=args.model)
    start = time.perf_counter()
    seg = Segmenter(cfg, pretrained=not args.random_weights).eval()
    load_s = time.perf_counter() - start
    n_enc = sum(p.numel() for p in seg.encoder.parameters())
    n_head = sum(p.numel() for p in seg.head.parameters())
    weights = "random" if args.random_weights else "pretrained"
    print(f"model {args.model} ({weights} weights, built in {load_s:.2f} s)")
    print(f"params: encoder {n_enc:,}  seg head {n_head:,}  total {n_enc + n_head:,}; K={len(cfg.seg_classes)}")
    providers = ", ".join(ort.get_available_providers()) if ort else ""
    threads = torch.get_num_threads()
    ort_text = f"onnxruntime {ort.__version__} ({providers})" if ort else "no onnxruntime (torch rows only)"
    print(f"torch {torch.__version__} ({threads} threads), {ort_text}")
    print(ROW.format("backend", "device / providers", "tile", "batch", "ms/batch", "ms/tile", "tiles/s"))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = export_segmenter(seg, Path(tmp) / "segmenter.onnx", tile_size=max(args.sizes)) if ort else None
        runners = [OnnxSegmenter(path, device="cpu", threads=args.threads or None)] if path else []
        if path and args.device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
            runners.append(OnnxSegmenter(path, device="cuda"))
        for size in args.sizes:
            _bench_size(seg, runners, size, args, rows)
            if path and args.device != "cpu":
                _bench_ort_device(path, seg.cfg.vision_bands, size, args, rows)
    if args.json:
        meta = {"model": args.model, "weights": weights, "torch": torch.__version__,
                "onnxruntime": ort.__version__ if ort else None, "providers": providers.split(", "),
                "threads": threads}
        Path(args.json).write_text(json.dumps({**meta, "rows": rows}, indent=1))
    return 0


def _bench_size(seg: Any, runners: list[Any], size: int, args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """Rows for one tile size: torch CPU, ORT CPU (+ its max difference to torch), CUDA rows if any."""
    import numpy as np
    import torch

    x = torch.rand(args.batch, seg.cfg.vision_bands, size, size)
    x_np = x.numpy()
    with torch.inference_mode():
        ref = torch.softmax(seg(x), dim=1).numpy()  # the export's output: probabilities
        _row(rows, "torch fp32", "cpu", size, args.batch, _time(lambda: seg(x), args.warmup, args.iters))
    for runner in runners:
        secs = _time(lambda r=runner: r(x_np), args.warmup, args.iters)
        cuda = runner.providers[0] == "CUDAExecutionProvider"
        _row(
            rows,
            "onnxruntime fp32" + (" (host io)" if cuda else ""),
            ",".join(runner.providers),
            size,
            args.batch,
            secs,
        )
        print(f"{'':<26} max |ORT - torch| on probabilities: {float(np.abs(runner(x_np) - ref).max()):.2e}")
    if args.device != "cpu" and torch.cuda.is_available():
        _bench_cuda(seg, x, size, args, rows)


def _bench_cuda(seg: Any, x: Any, size: int, args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """torch on the GPU: fp32, fp16 autocast, fp16 autocast + channels_last (inputs already on the device)."""
    import torch

    sync = torch.cuda.synchronize
    seg.cuda()
    xg = x.cuda()
    name = torch.cuda.get_device_name()
    with torch.inference_mode():
        _row(rows, "torch fp32", name, size, args.batch, _time(lambda: seg(xg), args.warmup, args.iters, sync))
        with torch.autocast("cuda", dtype=torch.float16):
            _row(
                rows,
                "torch fp16 autocast",
                name,
                size,
                args.batch,
                _time(lambda: seg(xg), args.warmup, args.iters, sync),
            )
            seg.to(memory_format=torch.channels_last)
            xc = xg.to(memory_format=torch.channels_last)
            secs = _time(lambda: seg(xc), args.warmup, args.iters, sync)
            _row(rows, "torch fp16 + ch_last", name, size, args.batch, secs)
            seg.to(memory_format=torch.contiguous_format)
    seg.cpu()


def _bench_ort_device(path: Path, bands: int, size: int, args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """onnxruntime with the tensors on the GPU (IO binding: no host copies), CUDA and TensorRT providers."""
    import numpy as np

    from core.onnx_backend import import_onnxruntime

    ort = import_onnxruntime()
    available = ort.get_available_providers()
    x = np.random.default_rng(0).random((args.batch, bands, size, size), dtype=np.float32)
    for provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
        if provider not in available:
            print(f"{'onnxruntime ' + provider:<26} not available in this onnxruntime")
            continue
        wanted = list(dict.fromkeys([provider, "CUDAExecutionProvider", "CPUExecutionProvider"]))
        try:
            session = ort.InferenceSession(str(path), providers=wanted)
        except Exception as exc:  # a provider whose libraries are missing on this machine
            print(f"{'onnxruntime ' + provider:<26} failed to start: {' '.join(str(exc).split())[:160]}")
            continue
        binding = session.io_binding()
        binding.bind_ortvalue_input(session.get_inputs()[0].name, ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0))
        binding.bind_output(session.get_outputs()[0].name, "cuda")
        secs = _time(lambda s=session, b=binding: s.run_with_iobinding(b), args.warmup, args.iters)
        name = "ort trt fp32 (io binding)" if provider.startswith("Tensorrt") else "ort cuda fp32 (io binding)"
        _row(rows, name, ",".join(session.get_providers()), size, args.batch, secs)


if __name__ == "__main__":
    raise SystemExit(main())
