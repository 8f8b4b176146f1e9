"""Measured grounding through the engine and the CLI, with a tiny random model on small real GeoTIFFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import CRS
from scipy import ndimage

from core.cli import main
from core.config import EngineConfig
from core.engine import Engine
from core.instances.polygons import ORIENTED_LAYER, read_objects_gpkg
from tests.rasters import UTM_CRS, make_raster

PHRASES = {"building": "the buildings", "road": "the roads", "water": "the water bodies", "barren": "bare soil",
           "forest": "the forests", "agriculture": "the fields", "playground": "the playgrounds"}


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine(EngineConfig(model="tiny", device="cpu", tile=64, overlap=16, batch_size=4))
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_raster(tmp_path_factory.mktemp("ground") / "utm.tif", width=96, height=80, count=4,
                       dtype="uint16", seed=3)


def _most_common_class(engine: Engine, scene: str, tmp_path: Path) -> tuple[str, np.ndarray]:
    """The class the (random) model gave most pixels, and the mask it wrote."""
    seg = engine.segment(scene, out=str(tmp_path / "landcover.tif"))
    with rasterio.open(seg.mask_path) as src:
        mask = src.read(1)
    counts = np.bincount(mask.ravel(), minlength=len(seg.classes))
    counts[seg.classes.index("background")] = 0
    return seg.classes[int(np.argmax(counts))], mask


def test_a_class_phrase_returns_the_measured_objects_as_polygons(engine: Engine, scene: str, tmp_path: Path) -> None:
    cls, mask = _most_common_class(engine, scene, tmp_path)
    labels, n = ndimage.label(mask == engine.classes.index(cls), structure=np.ones((3, 3), bool))
    px = np.bincount(labels.ravel())[1:]
    expected = sorted((100.0 * p for p in px if p >= 4), reverse=True)  # 10 m pixels; objects of 4+ pixels
    out = tmp_path / "objects.gpkg"
    result = engine.ground(scene, PHRASES[cls], out=str(out), oriented=True)
    assert result.source == "measured" and result.query == {"cls": cls}
    assert [o.area_m2 for o in result.objects] == pytest.approx(expected)
    assert result.boxes == [o.box for o in result.objects] and all(o.label == cls for o in result.objects)
    assert "instances" in result.provenance.timings and "ground" not in result.provenance.timings
    with rasterio.open(scene) as src:
        bounds = shapely.box(*src.bounds)
    for obj in result.objects:
        geom = shapely.from_wkt(obj.polygon_wkt)
        assert geom.is_valid and bounds.buffer(1e-6).contains(geom)
        assert geom.area == pytest.approx(obj.area_m2, rel=0.05)
    geoms, rows, crs = read_objects_gpkg(out)
    assert CRS.from_user_input(crs) == CRS.from_user_input(UTM_CRS) and len(geoms) == len(result.objects)
    assert len(read_objects_gpkg(out, ORIENTED_LAYER)[0]) == len(result.objects)
    assert {r["prompt"] for r in rows} <= {PHRASES[cls]} and {r["model"] for r in rows} <= {"tiny-random"}


def test_nothing_matching_says_what_was_looked_for(engine: Engine, scene: str, tmp_path: Path) -> None:
    cls, _ = _most_common_class(engine, scene, tmp_path)
    result = engine.ground(scene, f"{PHRASES[cls]} bigger than 1000 km2")
    assert result.source == "measured" and result.objects == [] and result.boxes == []
    assert len(result.warnings) == 1 and f"looked for {cls} objects of at least 1000.00 km2" in result.warnings[0]
    assert result.provenance.timings["segment"] < 1.0  # the segmentation was reused, not redone


def test_objects_stay_inside_the_area_of_interest(engine: Engine, scene: str, tmp_path: Path) -> None:
    cls, _ = _most_common_class(engine, scene, tmp_path)
    with rasterio.open(scene) as src:
        b = src.bounds
    aoi = f"{b.left + 100},{b.bottom + 100},{b.left + 600},{b.bottom + 500}"
    result = engine.ground(scene, PHRASES[cls], aoi=aoi)
    inside = shapely.box(*result.provenance.aoi).buffer(1e-6)
    assert result.source == "measured"
    assert all(inside.contains(shapely.from_wkt(o.polygon_wkt)) for o in result.objects)


def test_cli_prints_the_objects_the_rule_and_the_source(engine: Engine, scene: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    cls, _ = _most_common_class(engine, scene, tmp_path)
    expected = engine.ground(scene, PHRASES[cls])
    capsys.readouterr()
    out = tmp_path / "cli.gpkg"
    argv = ["ground", scene, PHRASES[cls], "--model", "tiny", "--tile", "64", "--overlap", "16", "--quiet",
            "--out", str(out), "--oriented"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    n = len(expected.objects)
    assert lines[0] == f"{n} object{'' if n == 1 else 's'} ({UTM_CRS})"
    assert sum(line.startswith(f"  {cls} ") for line in lines[1:n + 1]) == min(n, 20)  # one line per object
    assert sum(line.startswith("  rule: ") for line in lines) == (1 if n else 0)  # the rule once
    assert "source: measured (land-cover instances)" in lines and out.is_file()
    assert len(read_objects_gpkg(out, ORIENTED_LAYER)[0]) == n
