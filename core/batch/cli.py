"""``python -m core batch TASK INPUTS --out DIR``: one pipeline over many rasters, on Ray."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, Optional

from core.batch.tasks import TASKS, TaskSpec
from core.config import engine_options
from core.errors import Cancelled, InputError, Stopped


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see 'python -m core batch --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m core batch`` argument parser."""
    p = _Parser(prog="python -m core batch", description="Run one pipeline over a folder, a list or a STAC "
                "catalog of rasters on Ray; one row per raster (or grid cell) in OUT/results.parquet.")
    p.add_argument("task", choices=TASKS)
    p.add_argument("inputs", help="a folder (rasters found recursively), a text file of paths (change: "
                   "'BEFORE AFTER' per line) or a local STAC catalog / collection / item collection (.json)")
    p.add_argument("--out", required=True, help="output folder: results.parquet, per-item files under items/")
    p.add_argument("--grid", type=int, help="cut rasters into cells of N x N pixels, one work item each")
    p.add_argument("--address", help="Ray cluster address ('auto', 'ray://host:10001'); default: a local Ray")
    p.add_argument("--workers", type=int, help="model actors (default: one per GPU, else one per "
                   "--cpus-per-worker CPUs)")
    p.add_argument("--gpus-per-worker", type=float, help="GPUs per model actor (default: 1 when the cluster "
                   "has GPUs, else 0)")
    p.add_argument("--cpus-per-worker", type=float, default=2.0, help="CPUs per model actor, its torch threads "
                   "(default 2)")
    p.add_argument("--gpkg", action="store_true", help="also write OUT/results.gpkg")
    p.add_argument("--asset", help="STAC asset key (default: 'visual', else the first raster data asset)")
    p.add_argument("--question", help="ask: the question; change: a change question answered per pair")
    p.add_argument("--choices", help="ask: multiple choice answers separated by '|'")
    p.add_argument("--prompt", help="ground: what to find, e.g. 'the water bodies'")
    p.add_argument("--labels", help="classify: candidate scene labels separated by '|'")
    engine_options(p)  # --model, --device (auto: the actor's GPU when it has one), --backend, --tile...
    p.add_argument("--rgb-only", action="store_true", help="segment from red, green, blue only, even when a raster "
                   "has NIR/SWIR bands")
    p.add_argument("--max-new-tokens", type=int, help="longest generated text")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--log-progress", action="store_true", help="one 'progress k/N ...' line per item on stderr "
                   "instead of the bar (for programs reading the log)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (counts, table, GeoPackage)")
    return p


def _split(text: Optional[str]) -> Optional[tuple[str, ...]]:
    return None if text is None else tuple(t.strip() for t in text.split("|"))


def spec_from(args: argparse.Namespace) -> TaskSpec:
    """The task and its arguments from the command line."""
    return TaskSpec(args.task, question=args.question if args.task == "ask" else None, choices=_split(args.choices),
                    prompt=args.prompt, labels=_split(args.labels),
                    change_question=args.question if args.task == "change" else None)


def _stop(signum: int, frame: Any) -> None:
    signal.signal(signum, signal.SIG_IGN)
    raise Stopped(signum)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run a batch; exit 0 when every item is done, 1 when some failed, 2 on bad input, 130 when cancelled."""
    from core.batch.ray_run import BatchOptions, run_batch
    from core.config import engine_config

    args = build_parser().parse_args(list(sys.argv[2:] if argv is None else argv))
    old = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        if args.cpus_per_worker <= 0 or (args.gpus_per_worker is not None and args.gpus_per_worker < 0):
            raise InputError("--cpus-per-worker must be above 0 and --gpus-per-worker at least 0.")
        if args.grid is not None and args.grid < 32:
            raise InputError(f"--grid must be at least 32 pixels (got {args.grid}).")
        config = engine_config(args, max_new_tokens=args.max_new_tokens)
        options = BatchOptions(address=args.address, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                               cpus_per_worker=args.cpus_per_worker, grid=args.grid, gpkg=args.gpkg,
                               asset=args.asset)
        summary = run_batch(spec_from(args), args.inputs, args.out, config, options,
                            show_progress="lines" if args.log_progress else not args.quiet and sys.stderr.isatty())
    except InputError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        print("cancelled: the items finished so far are in the table; run again to finish the rest", file=sys.stderr)
        return 130
    except Stopped as exc:
        print(f"{exc}: the items finished so far are in the table; run again to finish the rest", file=sys.stderr)
        return 128 + exc.signum
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if args.json:
        from core.batch.output import GPKG

        gpkg = summary.table.with_name(GPKG)
        print(json.dumps({"done": summary.done, "failed": summary.failed, "skipped": summary.skipped,
                          "seconds": round(summary.seconds, 2), "table": str(summary.table),
                          "gpkg": str(gpkg) if args.gpkg and gpkg.is_file() else None, "summary": summary.text}))
    else:
        print(summary.text)
        print(f"workers: {summary.workers} x {summary.gpus_per_worker:g} GPU; table: {summary.table}")
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
