"""Batch inputs without Ray: discovery (folder, list, STAC), grid cells, digests, footprints, table, progress."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from core.batch.inputs import discover, footprints, grid_windows, work_items
from core.batch.items import Source, file_digest, source_digest
from core.batch.output import new_row, read_rows, write_results
from core.batch.progress import BatchProgress
from core.batch.resume import Journal, digest_memo, is_done
from core.errors import InputError
from tests.rasters import GEO_CRS, GEO_TRANSFORM, UTM_TRANSFORM, make_raster


def test_grid_cells_cover_the_raster_once() -> None:
    cells = grid_windows(100, 70, 32)
    assert len(cells) == 4 * 3  # ceil(100/32) x ceil(70/32)
    assert sum(w * h for _, _, w, h in cells) == 100 * 70
    assert cells[3] == (96, 0, 4, 32) and cells[-1] == (96, 64, 4, 6)  # narrower last column and row
    assert grid_windows(30, 20, 32) == [(0, 0, 30, 20)]  # smaller than a cell: one item
    assert grid_windows(100, 70, None) == [(0, 0, 100, 70)]


def test_folder_list_and_stac_discovery(tmp_path: Path) -> None:
    (tmp_path / "x" / "y").mkdir(parents=True)
    a = make_raster(tmp_path / "x" / "a.tif", width=32, height=32)
    b = make_raster(tmp_path / "x" / "y" / "b.TIF", width=32, height=32, seed=1)
    (tmp_path / "x" / "notes.txt").write_text("not a raster")
    (tmp_path / "x" / ".batch").mkdir()
    make_raster(tmp_path / "x" / ".batch" / "hidden.tif", width=32, height=32)
    assert [s.path for s in discover(str(tmp_path / "x"))] == [a, b]
    listing = tmp_path / "list.txt"
    listing.write_text("# the scenes\nx/y/b.TIF\n\n" + a + "  # absolute\n")
    assert [s.path for s in discover(str(listing))] == [b, a]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{a} x/y/b.TIF\n")
    assert discover(str(pairs), pairs=True) == [Source(a, b)]
    with pytest.raises(InputError, match="line 2: expected two paths"):
        discover(str(listing), pairs=True)
    with pytest.raises(InputError, match="No rasters"):
        discover(str(_empty(tmp_path)))
    with pytest.raises(InputError, match="not found"):
        discover(str(tmp_path / "missing"))


def _empty(tmp_path: Path) -> Path:
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


def test_stac_item_collection_and_catalog(tmp_path: Path) -> None:
    import pystac

    paths = [make_raster(tmp_path / f"s{i}.tif", width=32, height=32, seed=i) for i in range(2)]
    catalog = pystac.Catalog("c", "test catalog")
    items = []
    for i, p in enumerate(paths):
        item = pystac.Item(f"scene-{i}", None, None, pystac.utils.str_to_datetime("2024-05-01T00:00:00Z"), {})
        item.add_asset("thumbnail", pystac.Asset(p.replace(".tif", ".png"), media_type="image/png",
                                                 roles=["thumbnail"]))
        item.add_asset("data", pystac.Asset(p, media_type=pystac.MediaType.GEOTIFF, roles=["data"]))
        catalog.add_item(item)
        items.append(item)
    catalog.normalize_and_save(str(tmp_path / "stac"), pystac.CatalogType.ABSOLUTE_PUBLISHED)
    found = discover(str(tmp_path / "stac" / "catalog.json"))
    assert sorted((s.stac_id, s.path) for s in found) == [("scene-0", paths[0]), ("scene-1", paths[1])]
    coll = tmp_path / "items.json"
    coll.write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    assert [s.path for s in discover(str(coll))] == paths


def test_digests_and_the_memo(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc" * 1000)
    digest, size, mtime = file_digest(str(p))
    assert digest == hashlib.sha256(b"abc" * 1000).hexdigest() and size == 3000
    assert file_digest(str(p), {(str(p), size, mtime): "remembered"})[0] == "remembered"  # unchanged: not read
    q = tmp_path / "g.bin"
    q.write_bytes(b"xyz")
    pair = source_digest(Source(str(p), str(q)))[0]
    assert pair != source_digest(Source(str(q), str(p)))[0]  # order matters: before, after


def test_work_items_footprints_in_both_crs(tmp_path: Path) -> None:
    utm = make_raster(tmp_path / "u.tif", width=70, height=50)
    items = work_items(Source(utm), grid=32)
    assert [i.cell for i in items] == ["0,0", "0,1", "0,2", "1,0", "1,1", "1,2"]
    assert len({i.item_id for i in items}) == 6 and len({i.digest for i in items}) == 1
    x0, y0 = UTM_TRANSFORM.c, UTM_TRANSFORM.f
    assert items[1].aoi == pytest.approx([x0 + 320, y0 - 320, x0 + 640, y0])  # cell (0, 1) in metres
    lon_lat = shapely.from_wkt(items[0].footprint_wgs84)
    assert -76 < lon_lat.centroid.x < -75 and 37 < lon_lat.centroid.y < 38  # the US Atlantic coast
    geo = make_raster(tmp_path / "g.tif", width=40, height=30, crs=GEO_CRS, transform=GEO_TRANSFORM)
    whole = work_items(Source(geo))
    assert len(whole) == 1 and whole[0].aoi is None and whole[0].cell == ""
    assert shapely.from_wkt(whole[0].footprint_wgs84).bounds == pytest.approx((-75.73, 37.757, -75.726, 37.76))
    bare = make_raster(tmp_path / "n.tif", width=20, height=20, crs=None)
    native, wgs84 = footprints((1.0, 0.0, 0.0, 0.0, -1.0, 20.0), "", (0, 0, 20, 20))
    assert wgs84 == "" and shapely.from_wkt(native).area == 400
    assert work_items(Source(bare))[0].footprint_wgs84 == ""


def test_table_round_trip_and_resume_rules(tmp_path: Path) -> None:
    path = make_raster(tmp_path / "r.tif", width=32, height=32)
    item = work_items(Source(path))[0]
    row = new_row(item, "caption")
    row.update(status="done", caption="fields", tiles=1, seconds=0.5, class_shares=json.dumps({"water": 1.0}))
    out = tmp_path / "out"
    out.mkdir()
    write_results([row], out, gpkg=True)
    table = gpd.read_parquet(out / "results.parquet")
    assert table.crs.to_epsg() == 4326 and table.caption.tolist() == ["fields"]
    assert gpd.read_file(out / "results.gpkg", layer="results").crs.to_epsg() == 4326
    back = read_rows(out / "results.parquet")[0]
    assert back["item_id"] == item.item_id and shapely.from_wkt(back["footprint"]).equals(
        shapely.from_wkt(item.footprint_wgs84))
    journal = Journal(out)
    journal.append({**row, "status": "failed", "error": "boom"})  # a later row of the item wins
    rows = journal.load()
    assert rows[item.item_id]["status"] == "failed" and not is_done(item, rows)
    assert is_done(item, {item.item_id: row})
    assert not is_done(item, {item.item_id: {**row, "digest": "other"}})  # new content: redone
    assert digest_memo({item.item_id: row}) == {(path, item.size, item.mtime_ns): item.digest}
    journal.close()


def test_progress_line_and_summary() -> None:
    stream = io.StringIO()
    p = BatchProgress(total=10, enabled=True, stream=stream, start=0.0)
    p.done, p.failed, p.skipped, p.tiles = 3, 1, 2, 40
    line = p.line(now=8.0)  # 4 items in 8 s: 0.5 items/s, 4 left -> 8 s
    assert "6/10" in line and "1 failed" in line and "2 skipped" in line and "0.50 items/s" in line
    assert "ETA 0:00:08" in line
    assert p.summary().startswith("done 3, failed 1, skipped 2 in ")
