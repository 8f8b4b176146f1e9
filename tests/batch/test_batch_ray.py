"""Batches on a local Ray with 2 CPUs and a tiny model: rows, footprints, a failing item, resumption."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.warp import transform_bounds

from core.batch.inputs import footprints
from core.batch.ray_run import BatchOptions, run_batch, start_ray
from core.batch.resume import JOURNAL, STATE
from core.batch.tasks import TaskSpec
from core.cli import main
from core.config import EngineConfig
from tests.rasters import GEO_CRS, GEO_TRANSFORM, make_raster

CONFIG = EngineConfig(model="tiny", device="cpu", backend="torch", tile=64, overlap=16, batch_size=4,
                      max_new_tokens=6)
TWO = BatchOptions(workers=2, cpus_per_worker=1, flush_s=0.0)
ONE = BatchOptions(workers=1, cpus_per_worker=1, flush_s=0.0)


@pytest.fixture(scope="module")
def ray_local():
    import ray

    started = start_ray(num_cpus=2)  # one local Ray for every test here: startup is paid once
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rasters")
    make_raster(root / "a.tif", width=80, height=64, seed=1)
    make_raster(root / "b.tif", width=72, height=56, seed=2, count=4, dtype="uint16")
    (root / "deeper").mkdir()
    make_raster(root / "deeper" / "geo.tif", width=64, height=48, crs=GEO_CRS, transform=GEO_TRANSFORM, seed=3)
    (root / "broken.tif").write_bytes(b"II*\x00 this is no GeoTIFF")  # a corrupt file among good ones
    return root


def _table(out: Path) -> gpd.GeoDataFrame:
    return gpd.read_parquet(out / "results.parquet").set_index("path")


def test_caption_batch_writes_one_row_per_raster_with_wgs84_footprints(ray_local, folder: Path, tmp_path,
                                                                        capsys) -> None:
    out = tmp_path / "results"
    summary = run_batch(TaskSpec("caption"), str(folder), str(out), CONFIG, TWO)
    assert (summary.done, summary.failed, summary.skipped) == (3, 1, 0)
    table = _table(out)
    assert table.crs.to_epsg() == 4326 and len(table) == 4
    for name in ("a.tif", "b.tif", "deeper/geo.tif"):
        row = table.loc[str(folder / name)]
        assert row.status == "done" and row.error is pd_na() and row.caption  # the model's caption (or its note)
        assert row.answer_source in ("model", "checked") and row.model_id == "tiny-random" and row.tiles >= 1
        with rasterio.open(folder / name) as src:
            expected = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
            assert row.crs == src.crs.to_string()
            assert shapely.from_wkt(row.footprint_native).bounds == pytest.approx(tuple(src.bounds))
        assert row.geometry.bounds == pytest.approx(expected, abs=1e-7)
        shares = json.loads(row.class_shares)
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)  # the measured land cover beside the caption
    broken = table.loc[str(folder / "broken.tif")]
    assert broken.status == "failed" and "broken.tif" in broken.error and broken.geometry is None
    workers = set(table.worker.dropna())
    assert 1 <= len(workers) <= 2 and all(v > 0 for v in summary.peak_mb.values())
    assert set(summary.peak_mb) == workers

    # a rerun does nothing again but retries the failure; then a fixed file and a changed one are redone
    status = main(["batch", "caption", str(folder), "--out", str(out), "--model", "tiny", "--backend", "torch",
                   "--tile", "64", "--overlap", "16", "--batch-size", "4", "--max-new-tokens", "6", "--workers", "1",
                   "--cpus-per-worker", "1", "--quiet"])  # the command line, on the Ray started above
    assert status == 1 and capsys.readouterr().out.startswith("done 0, failed 1, skipped 3 in ")
    assert _table(out).loc[str(folder / "a.tif")].finished_at == table.loc[str(folder / "a.tif")].finished_at
    (folder / "broken.tif").unlink()
    make_raster(folder / "broken.tif", width=40, height=40, seed=4)  # repaired
    (folder / "a.tif").unlink()
    make_raster(folder / "a.tif", width=80, height=64, seed=11)  # new content under the same name
    third = run_batch(TaskSpec("caption"), str(folder), str(out), CONFIG, ONE)
    assert (third.done, third.failed, third.skipped) == (2, 0, 2)  # the repaired file and the changed one
    final = _table(out)
    assert len(final) == 4 and set(final.status) == {"done"}
    assert final.loc[str(folder / "a.tif")].digest != table.loc[str(folder / "a.tif")].digest


def pd_na():
    import pandas as pd

    return pd.NA


def test_segment_resumes_after_a_killed_partial_run(ray_local, tmp_path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make_raster(src / "big.tif", width=96, height=80, seed=5)  # 2 x 2 cells of 48 px
    make_raster(src / "small.tif", width=40, height=40, seed=6)  # one cell: the whole raster
    opts = BatchOptions(workers=1, cpus_per_worker=1, grid=48, flush_s=0.0)
    full = tmp_path / "full"
    first = run_batch(TaskSpec("segment"), str(src), str(full), CONFIG, opts)
    assert (first.done, first.failed) == (5, 0)
    table = gpd.read_parquet(full / "results.parquet")
    cells = table[table.path == str(src / "big.tif")]
    assert sorted(cells.cell) == ["0,0", "0,1", "1,0", "1,1"]
    with rasterio.open(src / "big.tif") as ds:
        whole = shapely.from_wkt(footprints(tuple(ds.transform)[:6], ds.crs.to_string(), (0, 0, 96, 80))[1])
    union = shapely.union_all(list(cells.geometry))
    assert union.symmetric_difference(whole).area < 1e-6 * whole.area  # the cells tile the raster
    for row in cells.itertuples():
        mask_path = json.loads(row.files)[0]
        with rasterio.open(mask_path) as mask:
            assert (mask.width, mask.height) == tuple(json.loads(row.window)[2:])
            assert np.all(mask.read(1) < 16)
    # a run killed after two items: its journal holds two rows and half of a third, no table yet
    partial = tmp_path / "partial"
    (partial / STATE).mkdir(parents=True)
    shutil.copy(full / STATE / "run.json", partial / STATE / "run.json")
    lines = (full / STATE / JOURNAL).read_text().splitlines()
    (partial / STATE / JOURNAL).write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][: len(lines[2]) // 2])
    rest = run_batch(TaskSpec("segment"), str(src), str(partial), CONFIG, opts)
    assert (rest.done, rest.failed, rest.skipped) == (3, 0, 2)  # only the rest, the torn row redone
    resumed = gpd.read_parquet(partial / "results.parquet")
    assert len(resumed) == 5 and set(resumed.status) == {"done"}
    kept = {json.loads(line)["item_id"]: json.loads(line)["finished_at"] for line in lines[:2]}
    for row in resumed.itertuples():
        if row.item_id in kept:
            assert row.finished_at == kept[row.item_id]  # skipped, not redone


def test_other_settings_in_the_same_folder_are_refused(ray_local, folder: Path, tmp_path) -> None:
    from core.errors import InputError

    out = tmp_path / "o"
    (out / STATE).mkdir(parents=True)
    (out / STATE / "run.json").write_text(json.dumps({"task": {"task": "segment"}}))
    with pytest.raises(InputError, match="other settings"):
        run_batch(TaskSpec("caption"), str(folder), str(out), CONFIG, TWO)
