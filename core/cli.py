"""Command line: ``python -m core segment|ask|ground|caption|classify|index|export-onnx|bench``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Optional

from core.config import engine_config, engine_options
from core.errors import Cancelled, InputError, Stopped

STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        command = "" if self.prog == "python -m core" else f" {self.prog.split()[-1]}"
        self.exit(2, f"error: {message} (see 'python -m core{command} --help')\n")


class ProgressBar:
    """A progress(fraction, message) callable drawing one line on stderr (silent when not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.start = time.monotonic()
        self._last = ""

    def __call__(self, fraction: float, message: str) -> None:
        if not self.enabled:
            return
        width = 30
        done = int(width * min(max(fraction, 0.0), 1.0))
        elapsed = time.monotonic() - self.start
        line = f"\r[{'#' * done}{'.' * (width - done)}] {fraction * 100:5.1f}% {elapsed:6.1f}s {message}"
        sys.stderr.write(line[:120].ljust(len(self._last)))
        sys.stderr.flush()
        self._last = line[:120]

    def close(self) -> None:
        if self.enabled and self._last:
            sys.stderr.write("\n")
            sys.stderr.flush()


class _CancelOnInterrupt:
    """First Ctrl-C asks the pipeline to stop at the next tile (it cleans up); a second one stops at once.

    SIGTERM and SIGHUP (``timeout``, systemd, a closed terminal) stop at once: :class:`Stopped` unwinds the
    pipeline like an exception, so every partial file is removed on the way out; later signals are ignored
    while that cleanup runs.
    """

    def __init__(self) -> None:
        self.requested = False

    def __enter__(self) -> _CancelOnInterrupt:
        self._old = signal.signal(signal.SIGINT, self._handle)
        self._old_stops = {s: signal.signal(s, self._stop) for s in STOP_SIGNALS}
        return self

    def _stop(self, signum: int, frame: Any) -> None:
        for s in (signal.SIGINT, *STOP_SIGNALS):
            signal.signal(s, signal.SIG_IGN)
        raise Stopped(signum)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            signal.signal(signal.SIGINT, self._old)
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\ncancelling after the current tile... (Ctrl-C again to kill)\n")

    def __call__(self) -> bool:
        return self.requested

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._old)
        for s, old in self._old_stops.items():
            signal.signal(s, old)


def _engine_args(p: argparse.ArgumentParser, raster: bool = True) -> None:
    if raster:
        p.add_argument("raster", help="any GDAL-readable raster (GeoTIFF, JP2, VRT...)")
        p.add_argument("--aoi", help="area of interest: 'xmin,ymin,xmax,ymax' or a WKT polygon, in the "
                       "raster CRS, or followed by '@EPSG:4326' (any EPSG code)")
        p.add_argument("--bands", help="the bands shown as red,green,blue, 1-based (e.g. 3,2,1); default: what the "
                       "file says (descriptions, wavelengths, product name), else a guess by band count")
        p.add_argument("--sensor", help="how the bands are stacked: sentinel2, landsat5, landsat7, landsat8 (or 9), "
                       "naip, worldview, planetscope, rgb, bgr, grey")
        p.add_argument("--rgb-only", action="store_true", help="segment from red, green, blue only, even when the "
                       "raster has NIR/SWIR bands (default: use them when the model has a spectral refiner)")
    engine_options(p)
    p.add_argument("--json", action="store_true", help="print the full result as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m core`` argument parser."""
    parser = _Parser(prog="python -m core", description="EarthAsk engine: ask your imagery questions.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("segment", help="land-cover segmentation to a class GeoTIFF, with areas and counts")
    _engine_args(p)
    p.add_argument("--out", help="output GeoTIFF (default: <raster name>_landcover.tif in this folder)")

    p = sub.add_parser("ask", help="ask a question (open-ended, or multiple choice with --choices)")
    _engine_args(p)
    p.add_argument("question")
    p.add_argument("--choices", help="multiple choice: answers separated by '|'")

    p = sub.add_parser("ground", help="find objects from a description; boxes as a GeoPackage layer")
    _engine_args(p)
    p.add_argument("prompt", help="what to find, e.g. 'the playgrounds'")
    p.add_argument("--out", help="output GeoPackage (default: none, boxes printed)")
    p.add_argument("--oriented", action="store_true",
                   help="measured objects: also write their oriented boxes (layer oriented_boxes)")

    p = sub.add_parser("caption", help="retrieval-augmented caption of the scene or AOI")
    _engine_args(p)

    p = sub.add_parser("classify", help="scene classification")
    _engine_args(p)
    p.add_argument("--labels", help="candidate scene labels separated by '|' (default: the model's)")

    p = sub.add_parser("change", help="land-cover change between two dates: from-to areas, change mask, polygons")
    _engine_args(p, raster=False)
    _change_args(p)

    p = sub.add_parser("index", help="build a semantic database (faiss) from a JSONL of {text, level}")
    _engine_args(p, raster=False)
    p.add_argument("texts", help="JSONL file, one {\"text\": ..., \"level\": ...} per line")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--index-type", default="flat", choices=("flat", "ivf", "hnsw"))

    p = sub.add_parser("export-onnx", help="export the segmentation encoder and retriever image tower to ONNX")
    _engine_args(p, raster=False)
    p.add_argument("--out", required=True, help="output directory")

    p = sub.add_parser("bench", help="benchmarks that print figures: tiling | encoder | answer | batch", add_help=False)
    p.add_argument("which", choices=("tiling", "encoder", "answer", "batch"))
    p.add_argument("rest", nargs=argparse.REMAINDER)

    p = sub.add_parser("batch", help="one task over many rasters on Ray, to GeoParquet (see 'batch --help')",
                       add_help=False, prefix_chars="\0")  # every argument goes to core.batch.cli
    p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _split(text: Optional[str]) -> Optional[list[str]]:
    """``'a|b|c'`` -> ['a', 'b', 'c'] (checked by the engine: empty items, duplicates, how many)."""
    return None if text is None else [t.strip() for t in text.split("|")]


def _print_result(args: argparse.Namespace, result: Any, human: str) -> None:
    from core.results import to_dict

    if args.json:
        print(json.dumps(to_dict(result), indent=2, default=str))
    else:
        print(human)


def _summary(prov: Any) -> str:
    lines = []
    for s in prov.class_stats:
        lines.append(f"  {s.name:<12} {s.area_ha:12.2f} ha {s.fraction * 100:6.1f}%  {s.count:5d} patches"
                     f"  {s.position}")
    for r in prov.retrieved:
        lines.append(f"  retrieved ({r.score:.3f}, {r.level}): {r.text}")
    bp = prov.band_profile or {}
    if bp.get("rgb_bands"):
        from core.imagery.detect import bands_text

        lines.append(f"  bands: {bands_text(bp['rgb_bands'], bp.get('name'), bp.get('detected_from'))}")
    lines += [f"  note: {n}" for n in prov.notes]
    total = sum(prov.timings.values())
    lines.append(f"  {prov.tiles} tiles, {total:.1f} s, device {prov.device}, backend {prov.backend}, "
                 f"model {prov.model_id}")
    return "\n".join(lines)


_MAX_ROWS = 20  # objects or boxes listed; the rest are counted
_SOURCE_TEXT = {"measured": "computed from the land-cover segmentation", "model": "written by the language model",
                "checked": "written by the language model, figures checked against the land-cover map"}


def _source_lines(source: str, explanation: str, overruled: bool, model_words: Optional[str]) -> list[str]:
    """Where a result came from: the measured sentence, the source, what was checked, the overruled words."""
    lines = [f"   {explanation}"] if explanation and source == "measured" else []
    lines.append(f"   source: {source} ({_SOURCE_TEXT.get(source, source)})")
    if source == "checked" or (source == "model" and explanation and not explanation.startswith("written by")):
        lines.append(f"   {explanation}")  # what was checked, or how a choice was picked
    if overruled:
        lines.append(f"   the model said: {model_words}")
    return lines


def _answer_lines(r: Any) -> str:
    """The answer, the sentence that backs it and its source (and the model's overruled words)."""
    return "\n".join([f"A: {r.answer}", *_source_lines(r.source, r.explanation, r.overruled, r.model_answer)])


def _ha_or_m2(m2: float) -> str:
    return f"{m2:,.0f} m2" if m2 < 1e4 else f"{m2 / 1e4:,.1f} ha"


def _ground_lines(r: Any) -> str:
    """What grounding found: one line per object (measured) or box (model), the rule once, and the source."""
    if r.source == "measured":
        rows = [f"  {o.label} {_ha_or_m2(o.area_m2)} {o.position}" for o in r.objects[:_MAX_ROWS]]
        head = [f"{len(r.objects)} object{'' if len(r.objects) == 1 else 's'} ({r.provenance.crs})"]
        rule = [f"  rule: {r.objects[0].rule}"] if r.objects else []
        source = "source: measured (land-cover instances)"
    else:
        rows = [f"  {b.label} {b.score:.3f} [{b.x1:.1f}, {b.y1:.1f}, {b.x2:.1f}, {b.y2:.1f}]"
                for b in r.boxes[:_MAX_ROWS]]
        head, rule, source = [f"{len(r.boxes)} boxes ({r.provenance.crs})"], [], "source: model"
    shown = len(r.objects if r.source == "measured" else r.boxes)
    more = [f"  ... {shown - _MAX_ROWS} more"] if shown > _MAX_ROWS else []
    warn = [f"  warning: {w}" for w in r.warnings]
    where = [f"layer: {r.layer_path}"] if r.layer_path else []
    return "\n".join(head + rows + more + rule + warn + where + [source])


def _run(args: argparse.Namespace, progress: Callable[[float, str], None], cancelled: Callable[[], bool]) -> None:
    from core.engine import Engine

    if args.command == "index":
        from core.semantic_index import build_semantic_db

        out = build_semantic_db(args.texts, args.out, engine_config(args), index_type=args.index_type,
                                progress=progress, cancelled=cancelled)
        print(f"semantic database: {out}")
        return
    if args.command == "export-onnx":
        from core.export import export_onnx

        for path in export_onnx(engine_config(args), args.out):
            print(f"wrote {path}")
        return

    from core.imagery import parse_bands

    bands = parse_bands(args.bands) if args.bands is not None else None
    with Engine(engine_config(args)) as engine:
        _run_engine(engine, args, dict(aoi=args.aoi, progress=progress, cancelled=cancelled, bands=bands,
                                       sensor=args.sensor))


def _run_engine(engine: Any, args: argparse.Namespace, kw: dict[str, Any]) -> None:
    """One engine command; the caller closes the engine (its temporary files go with it)."""
    if args.command == "segment":
        r = engine.segment(args.raster, out=args.out, **kw)
        _print_result(args, r, f"land cover: {r.mask_path}\n{_summary(r.provenance)}")
    elif args.command == "ask":
        r = engine.ask(args.raster, args.question, choices=_split(args.choices), **kw)
        _print_result(args, r, f"Q: {r.question}\n{_answer_lines(r)}\n{_summary(r.provenance)}")
    elif args.command == "ground":
        r = engine.ground(args.raster, args.prompt, out=args.out, oriented=args.oriented, **kw)
        _print_result(args, r, _ground_lines(r) + "\n" + _summary(r.provenance))
    elif args.command == "caption":
        r = engine.caption(args.raster, **kw)
        lines = [r.caption, *_source_lines(r.source, r.explanation, r.overruled, r.model_caption)]
        _print_result(args, r, "\n".join(lines) + "\n" + _summary(r.provenance))
    elif args.command == "classify":
        r = engine.classify(args.raster, labels=_split(args.labels), **kw)
        _print_result(args, r, f"{r.label}\n{_summary(r.provenance)}")
    elif args.command == "change":
        _run_change(engine, args, kw)


def _change_args(p: argparse.ArgumentParser) -> None:
    """``python -m core change BEFORE AFTER``: the two dates, the AOI, the outputs and a change question."""
    p.add_argument("before", help="the first date: any GDAL-readable raster; the comparison is on its grid")
    p.add_argument("after", help="the second date: any CRS, resolution, extent or sensor (read onto the first's grid)")
    p.add_argument("--aoi", help="area of interest (as for the other commands); default: where the two overlap")
    p.add_argument("--bands", help="the first date's bands shown as red,green,blue, 1-based")
    p.add_argument("--sensor", help="the first date's sensor (see 'segment --help')")
    p.add_argument("--after-bands", help="the second date's bands shown as red,green,blue, 1-based")
    p.add_argument("--after-sensor", help="the second date's sensor")
    p.add_argument("--out", help="change mask GeoTIFF (default: <before name>_change.tif in this folder)")
    p.add_argument("--polygons", help="change polygons GeoPackage (default: none)")
    p.add_argument("--question", help="a change question answered from the measurement, e.g. 'how much forest "
                   "was lost?'")
    p.add_argument("--caption", action="store_true", help="the language model also writes a short narrative "
                   "around the measured figures, checked against them")


def _run_change(engine: Any, args: argparse.Namespace, kw: dict[str, Any]) -> None:
    from core.change.text import change_text
    from core.imagery import parse_bands

    after_bands = parse_bands(args.after_bands) if args.after_bands is not None else None
    r = engine.change(args.before, args.after, out=args.out, polygons=args.polygons, question=args.question,
                      after_bands=after_bands, after_sensor=args.after_sensor, caption=args.caption, **kw)
    if args.json:
        print(json.dumps(r.to_dict(), indent=2, default=str))
    else:
        print(change_text(r) + "\n" + _summary(r.provenance))


def _join_aoi(argv: list[str]) -> list[str]:
    """``--aoi -75.7,37.5,...`` -> ``--aoi=-75.7,...``: western longitudes must not read as options."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--aoi" and i + 1 < len(argv):
            out.append(f"--aoi={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit status (2 for bad input, 130 when cancelled)."""
    args = build_parser().parse_args(_join_aoi(list(sys.argv[1:] if argv is None else argv)))
    if args.command == "batch":
        from core.batch.cli import main as batch_main

        return batch_main(args.rest)
    if args.command == "bench":
        if args.which == "batch":
            from core.bench.batch import main as bench_main
        elif args.which == "tiling":
            from core.bench.tiling import main as bench_main
        elif args.which == "answer":
            from core.bench.answer import main as bench_main
        else:
            from core.bench.encoder import main as bench_main
        return int(bench_main(args.rest) or 0)

    bar = ProgressBar(enabled=not args.quiet and sys.stderr.isatty())
    try:
        with _CancelOnInterrupt() as cancelled, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what matters to the user is in the result's notes
            _run(args, bar, cancelled)
    except InputError as exc:
        return _fail(bar, f"error: {_one_line(exc)}", 2)
    except (Cancelled, KeyboardInterrupt):
        return _fail(bar, "cancelled: no output was left behind", 130)
    except Stopped as exc:
        return _fail(bar, f"{exc}: no output was left behind", 128 + exc.signum)
    except MemoryError:
        return _fail(bar, "error: out of memory; try a smaller --tile, --batch-size 1 or an --aoi", 1)
    except Exception as exc:  # a bug: one line, the traceback on request
        if os.environ.get("EARTHASK_DEBUG"):
            raise
        return _fail(bar, f"internal error ({type(exc).__name__}): {_one_line(exc)}; set EARTHASK_DEBUG=1 "
                          "for the traceback and report it", 1)
    bar.close()
    return 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _fail(bar: ProgressBar, line: str, status: int) -> int:
    bar.close()
    print(line, file=sys.stderr)
    return status
