"""The batch on Ray: CPU tasks open, hash and grid the rasters; long-lived model actors run the pipeline.

Backpressure: at most ``depth`` items wait in each actor's queue (one runs, the next is already there, so the
model never waits), at most ``2 * workers`` rasters are being opened, and no more are opened while enough items
are ready. Memory stays bounded whatever the number of inputs.
"""

from __future__ import annotations

import os
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from core.batch.inputs import discover, work_items
from core.batch.items import Source, WorkItem, item_id, source_key
from core.batch.output import new_row, write_results
from core.batch.progress import BatchProgress
from core.batch.resume import Journal, check_settings, digest_memo, is_done, record_settings
from core.batch.tasks import TaskSpec, run_item
from core.config import EngineConfig
from core.errors import Cancelled, InputError

ROOT = Path(__file__).resolve().parents[2]  # the repository: what Ray's workers import ``core`` from


@dataclass
class BatchOptions:
    """How the batch runs; ``None`` picks from the cluster."""

    address: Optional[str] = None  # a Ray cluster ("auto", "ray://host:10001"); None: a local Ray on this machine
    workers: Optional[int] = None  # model actors; default: one per GPU share, else one per cpus_per_worker CPUs
    gpus_per_worker: Optional[float] = None  # default: 1 when the cluster has GPUs, else 0
    cpus_per_worker: float = 2.0  # CPUs reserved per actor, also its torch threads
    grid: Optional[int] = None  # cell size in pixels: large rasters become several items
    gpkg: bool = False  # also write results.gpkg
    depth: int = 2  # items queued per actor
    flush_s: float = 10.0  # seconds between rewrites of results.parquet during the run
    asset: Optional[str] = None  # STAC asset key


@dataclass
class BatchSummary:
    """What a batch did: counts, throughput and where the table is."""

    table: Path
    done: int
    failed: int
    skipped: int
    seconds: float
    items_per_s: float
    tiles_per_s: float
    workers: int
    gpus_per_worker: float
    peak_mb: dict[str, float] = field(default_factory=dict)  # per worker ("host:pid"), resident memory peak
    text: str = ""


class ModelWorker:
    """A long-lived Ray actor: one engine, loaded on the first item and kept for every later one."""

    def __init__(self, config: EngineConfig, spec: TaskSpec, out_dir: str, threads: int) -> None:
        import torch

        from core.engine import Engine

        torch.set_num_threads(max(1, threads))
        self.engine = Engine(config)
        self.spec = spec
        self.out_dir = Path(out_dir)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.loaded = False

    def run(self, item: WorkItem) -> dict[str, Any]:
        """The item's row: its results, or the error that stopped it (the actor carries on)."""
        import resource

        row = new_row(item, self.spec.task)
        first = not self.loaded
        t0 = time.perf_counter()
        try:
            row.update(run_item(self.engine, self.spec, item, self.out_dir / "items" / item.item_id))
            row["status"] = "done"
        except Exception as exc:  # one item's failure never stops the batch
            row.update(status="failed", error=f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:2000])
        self.loaded = True
        row["seconds"] = round(time.perf_counter() - t0, 4)
        row["load_seconds"] = row["seconds"] if first else 0.0  # the first item also loads the model
        row["worker"] = self.name
        row["worker_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        row["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return row

    def close(self) -> None:
        self.engine.close()


def prepare(src: Source, grid: Optional[int], memo: dict[tuple[str, int, int], str]) -> list[WorkItem]:
    """A CPU task: open the raster, hash it and cut it into grid cells (see :func:`core.batch.inputs.work_items`)."""
    return work_items(src, grid, memo)


def failed_source_row(src: Source, task: str, error: str) -> dict[str, Any]:
    """The row of a raster that could not be opened: retried by the next run."""
    row = new_row(WorkItem(item_id(src.path, src.after), src.path, "", 0, 0, after=src.after,
                           stac_id=src.stac_id), task)
    row.update(status="failed", error=error[:2000], seconds=0.0,
               finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return row


def start_ray(address: Optional[str] = None, num_cpus: Optional[int] = None) -> bool:
    """Connect to ``address``, or start a local Ray (with ``num_cpus``, default all), unless one is running in this
    process already; True when this call started it. Local workers import ``core`` from this repository."""
    try:
        import ray
    except ImportError as e:
        raise InputError("Batches run on Ray, which is not installed in this Python: "
                         "pip install -r requirements-batch.txt (scripts/setup.sh does it).") from e

    if ray.is_initialized():
        return False
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    kw: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING", "log_to_driver": False}
    if address:  # a cluster: every node has this repository at the same path
        _check_reachable(address)
        try:
            ray.init(address=address, runtime_env={"env_vars": env}, **kw)
        except (ConnectionError, RuntimeError, ValueError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise InputError(f"Cannot connect to the Ray cluster at {address} ({first}). A cluster with token "
                             "authentication needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN).") from e
    else:
        ray.init(num_cpus=num_cpus, runtime_env={"env_vars": env}, **kw)
    return True


def _check_reachable(address: str) -> None:
    """Fail fast on a ``host:port`` (or ``ray://host:port``) where nothing listens: Ray itself retries for minutes.

    Raises:
        InputError: no TCP connection within 5 s.
    """
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms: Ray looks the cluster up itself
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise InputError(f"Nothing answers at the Ray cluster address {address} ({e.strerror or e}).") from e


def plan_workers(options: BatchOptions) -> tuple[int, float]:
    """``(workers, gpus per worker)`` from the options and the cluster's resources."""
    import ray

    res = ray.cluster_resources()
    gpus = float(res.get("GPU", 0.0))
    gpw = options.gpus_per_worker if options.gpus_per_worker is not None else (1.0 if gpus >= 1 else 0.0)
    if gpw > 0 and gpus < gpw:
        raise InputError(f"--gpus-per-worker {gpw:g}: the Ray cluster has {gpus:g} GPUs.")
    cpus = float(res.get("CPU", 1.0))
    if options.workers is not None:
        if options.workers < 1:
            raise InputError("--workers must be at least 1.")
        need_cpu, need_gpu = options.workers * options.cpus_per_worker, options.workers * gpw
        if need_cpu > cpus or need_gpu > gpus:  # the actors would wait for resources forever
            raise InputError(f"--workers {options.workers} need {need_cpu:g} CPUs and {need_gpu:g} GPUs; the Ray "
                             f"cluster has {cpus:g} and {gpus:g} (see --cpus-per-worker, --gpus-per-worker).")
        return options.workers, gpw
    if gpw > 0:
        return max(1, int(gpus // gpw)), gpw
    return max(1, int(cpus // max(options.cpus_per_worker, 1e-9))), gpw


def run_batch(spec: TaskSpec, inputs: str, out_dir: str, config: EngineConfig, options: Optional[BatchOptions] = None,
              show_progress: Union[bool, str] = False, cancelled: Optional[Callable[[], bool]] = None) -> BatchSummary:
    """Run ``spec`` over every work item of ``inputs``; rows go to ``OUT/results.parquet``.

    ``show_progress``: True draws a bar on stderr, ``"lines"`` writes one ``progress k/N ...`` line per item.

    Items done before (same path, cell and content digest, same settings) are skipped; failed ones are retried.

    Raises:
        InputError: bad inputs, options or OUT (before Ray starts); Cancelled when ``cancelled()`` says so
            (the table then holds every item finished so far).
    """
    options = options or BatchOptions()
    spec.check()
    sources = discover(inputs, pairs=spec.task == "change", asset=options.asset)
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out must be a folder: {out} is a file.")
    if not out.parent.is_dir():
        raise InputError(f"The folder of --out does not exist: {out.parent}.")
    settings = {"task": spec.key(), "model": config.model, "grid": options.grid, "tile": config.tile,
                "overlap": config.overlap, "spectral": config.spectral}
    check_settings(out, settings)
    started = start_ray(options.address)
    try:
        out.mkdir(exist_ok=True)
        record_settings(out, settings)
        return _Scheduler(spec, sources, out, config, options, show_progress, cancelled).run()
    finally:
        if started:
            import ray

            ray.shutdown()


class _Scheduler:
    """The driver loop: feeds CPU tasks and actors within the backpressure bounds, records every row."""

    def __init__(self, spec: TaskSpec, sources: list[Source], out: Path, config: EngineConfig,
                 options: BatchOptions, show_progress: Union[bool, str],
                 cancelled: Optional[Callable[[], bool]]) -> None:
        self.spec, self.sources, self.out, self.config, self.options = spec, sources, out, config, options
        self.cancelled = cancelled or (lambda: False)
        self.journal = Journal(out)
        self.rows = self.journal.load()
        self.memo = digest_memo(self.rows)
        self.seen: set[str] = set()
        self.progress = BatchProgress(total=len(sources), enabled=bool(show_progress), lines=show_progress == "lines")
        self.dirty = False
        self.complete = False  # every input was processed (the final table then holds only this batch's items)

    def run(self) -> BatchSummary:
        import ray

        workers, gpw = plan_workers(self.options)
        threads = max(1, int(self.options.cpus_per_worker))
        actor_cls = ray.remote(num_cpus=self.options.cpus_per_worker, num_gpus=gpw)(ModelWorker)
        self.make_actor = lambda: actor_cls.remote(self.config, self.spec, str(self.out), threads)
        self.actors = [self.make_actor() for _ in range(workers)]
        self.prepare = ray.remote(num_cpus=0)(prepare)
        try:
            self._loop(ray)
            self.complete = True
        finally:
            table = self._flush(final=True)
            self.journal.close()
            for a in self.actors:
                ray.kill(a)
            self.progress.close()
        p = self.progress
        elapsed = time.monotonic() - p.start
        peaks: dict[str, float] = {}
        for r in self.rows.values():
            if r.get("item_id") in self.seen and r.get("worker") and r.get("worker_peak_mb") is not None:
                peaks[r["worker"]] = max(peaks.get(r["worker"], 0.0), float(r["worker_peak_mb"]))
        return BatchSummary(table, p.done, p.failed, p.skipped, elapsed, p.rate(), p.tiles / max(elapsed, 1e-9),
                            workers, gpw, peaks, p.summary())

    def _loop(self, ray: Any) -> None:
        depth, n = max(1, self.options.depth), len(self.actors)
        pending = deque(self.sources)
        ready: deque[WorkItem] = deque()
        preps: dict[Any, Source] = {}
        running: dict[Any, tuple[int, WorkItem]] = {}
        load = [0] * n
        last_flush = time.monotonic()
        while pending or preps or ready or running:
            if self.cancelled():
                raise Cancelled("cancelled by the user")
            while pending and len(preps) < 2 * n and len(ready) < 2 * depth * n:
                src = pending.popleft()
                key = source_key(src)
                memo = {k: v for k, v in self.memo.items() if k[0] == key}
                preps[self.prepare.remote(src, self.options.grid, memo)] = src
            while ready and min(load) < depth:
                i = load.index(min(load))
                item = ready.popleft()
                running[self.actors[i].run.remote(item)] = (i, item)
                load[i] += 1
            finished, _ = ray.wait([*preps, *running], num_returns=1, timeout=0.5)
            for ref in finished:
                if ref in preps:
                    ready.extend(self._prepared(ray, ref, preps.pop(ref)))
                else:
                    i, item = running.pop(ref)
                    load[i] -= 1
                    self._record(self._result(ray, ref, i, item))
            self.progress.update()
            if self.dirty and time.monotonic() - last_flush > self.options.flush_s:
                self._flush()
                last_flush = time.monotonic()

    def _prepared(self, ray: Any, ref: Any, src: Source) -> list[WorkItem]:
        """The items of an opened raster still to do; a raster that cannot be opened is a failed row."""
        try:
            items = ray.get(ref)
        except Exception as exc:
            cause = getattr(exc, "cause", None) or exc
            self._record(failed_source_row(src, self.spec.task, f"{type(cause).__name__}: "
                                                                 f"{' '.join(str(cause).split())}"))
            return []
        self.progress.total += len(items) - 1
        todo = []
        for item in items:
            self.seen.add(item.item_id)
            if is_done(item, self.rows):
                self.progress.skipped += 1
            else:
                todo.append(item)
        return todo

    def _result(self, ray: Any, ref: Any, i: int, item: WorkItem) -> dict[str, Any]:
        """The actor's row; when the actor itself died (killed, out of memory), a failed row and a new actor."""
        try:
            return ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            self.actors[i] = self.make_actor()
            row = new_row(item, self.spec.task)
            row.update(status="failed", error=f"worker lost: {' '.join(str(exc).split())}"[:2000])
            return row

    def _record(self, row: dict[str, Any]) -> None:
        self.journal.append(row)
        self.rows[row["item_id"]] = row
        self.seen.add(row["item_id"])
        self.dirty = True
        if row["status"] == "done":
            self.progress.done += 1
            self.progress.tiles += int(row.get("tiles") or 0)
        else:
            self.progress.failed += 1

    def _flush(self, final: bool = False) -> Path:
        """Rewrite the table: once every input is through, only this batch's items; before, every row so far."""
        done = final and self.complete
        rows = [r for r in self.rows.values() if r["item_id"] in self.seen] if done else list(self.rows.values())
        table = write_results(rows, self.out, gpkg=self.options.gpkg and final)
        if done:
            self.journal.rewrite(list(self.rows.values()))
        self.dirty = False
        return table
