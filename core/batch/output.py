"""The batch's table: one row per work item, written as GeoParquet (and GeoPackage) with EPSG:4326 footprints."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.batch.items import WorkItem

RESULTS = "results.parquet"
GPKG = "results.gpkg"
# Every row has every column (None where a task has nothing to say), so the schema never depends on the task.
TEXT_COLUMNS = (
    "item_id", "path", "after", "stac_id", "cell", "window", "crs", "footprint_native", "digest", "task",
    "status", "error", "answer", "caption", "label", "answer_source", "explanation", "model_words", "scores",
    "class_shares", "counts", "areas_m2", "files", "model_id", "device", "notes", "worker", "finished_at",
)  # fmt: skip
NUMBER_COLUMNS = ("size", "mtime_ns", "objects", "changed_m2", "compared_m2", "tiles", "seconds", "load_seconds",
                  "worker_peak_mb")
INT_COLUMNS = ("size", "mtime_ns", "objects", "tiles")


def new_row(item: WorkItem, task: str) -> dict[str, Any]:
    """A row for ``item`` with every column, its place filled in and its results empty."""
    row: dict[str, Any] = {c: None for c in (*TEXT_COLUMNS, *NUMBER_COLUMNS)}
    row.update(
        item_id=item.item_id, path=item.path, after=item.after, stac_id=item.stac_id, cell=item.cell,
        window=json.dumps(list(item.window)) if item.window else None, crs=item.crs,
        footprint_native=item.footprint_native or None, digest=item.digest, size=item.size, mtime_ns=item.mtime_ns,
        task=task, footprint=item.footprint_wgs84 or None, notes=json.dumps(item.notes),
    )  # fmt: skip
    return row


def results_frame(rows: list[dict[str, Any]]) -> Any:
    """A GeoDataFrame of rows: geometry = the footprint in EPSG:4326; the native footprint stays WKT beside
    ``crs`` (items of one batch may each have their own CRS)."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    columns = [*TEXT_COLUMNS, *NUMBER_COLUMNS]
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    for c in TEXT_COLUMNS:
        frame[c] = frame[c].astype("string")
    for c in NUMBER_COLUMNS:
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
        if c in INT_COLUMNS:
            frame[c] = frame[c].astype("Int64")
    geometry = [shapely.from_wkt(r["footprint"]) if r.get("footprint") else None for r in rows]
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs="EPSG:4326"), crs="EPSG:4326")


def write_results(rows: list[dict[str, Any]], out_dir: Path, gpkg: bool = False) -> Path:
    """Write ``OUT/results.parquet`` (GeoParquet) atomically, and ``OUT/results.gpkg`` when asked; the parquet
    path is returned. Readers never see half a file: each is written beside and renamed over."""
    frame = results_frame(sorted(rows, key=lambda r: (r["path"], r.get("after") or "", r.get("cell") or "")))
    target = out_dir / RESULTS
    tmp = out_dir / f".{RESULTS}.{os.getpid()}.partial"
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, target)
    if gpkg:
        tmp_g = out_dir / f".{os.getpid()}.partial.gpkg"
        tmp_g.unlink(missing_ok=True)
        plain = frame.copy()
        for c in NUMBER_COLUMNS:
            plain[c] = plain[c].astype("float64")  # GeoPackage has no nullable integers
        plain.to_file(tmp_g, layer="results", driver="GPKG")
        os.replace(tmp_g, out_dir / GPKG)
    return target


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a results.parquet written before (footprint back to WKT), for resuming."""
    import geopandas as gpd

    frame = gpd.read_parquet(path)
    rows = []
    for rec in frame.to_dict("records"):
        geom = rec.pop("geometry", None)
        row = {k: (None if _missing(v) else v) for k, v in rec.items()}
        row["footprint"] = geom.wkt if geom is not None else None
        rows.append(row)
    return rows


def _missing(value: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
