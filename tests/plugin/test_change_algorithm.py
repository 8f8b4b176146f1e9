"""earthask:change with the real engine (tiny model): outputs on the first date's grid, the mask's pixels add up to
the reported areas, polygons and layers styled from-to, and the algorithm from qgis_process."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import processing
import pytest
import rasterio
from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsPalettedRasterRenderer,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
)

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
SITE_PACKAGES = REPO / ".venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
ROW = re.compile(r"^(\w+) -> (\w+): ([\d.]+) m²", re.M)


HERE = Path(__file__).resolve().parent


@pytest.fixture
def rule_engine(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Processing's shared engine is the real engine with a colour rule for a segmenter (change_rule_engine.py)."""
    from plugin import engine_client

    holder = engine_client.EngineHolder(factory="change_rule_engine:RuleEngine", extra_path=(str(HERE),))
    for module in ("plugin.engine_client", "plugin.processing_provider.base"):
        monkeypatch.setattr(f"{module}.ENGINES", holder)
    yield holder
    holder.shutdown()


@pytest.fixture
def two_dates(tmp_path: Path, rule_engine) -> tuple[str, str]:  # noqa: ANN001
    """A UTM scene at 10 m and its second date with a forest block cleared, reprojected to EPSG:4326."""
    from change_rule_engine import two_dates as make

    return make(tmp_path)


def test_change_is_listed_and_supports_batch(qgis_app) -> None:
    alg = QgsApplication.processingRegistry().algorithmById("earthask:change")
    assert alg is not None and alg.flags() & Qgis.ProcessingAlgorithmFlag.SupportsBatch
    names = [p.name() for p in alg.parameterDefinitions()]
    for name in ("BEFORE", "AFTER", "EXTENT", "QUESTION", "OUTPUT", "POLYGONS", "MODEL", "AFTER_BANDS"):
        assert name in names


def test_mask_pixels_add_up_to_the_reported_areas_and_polygons_match(two_dates, tmp_path: Path) -> None:
    before, after = two_dates
    feedback = QgsProcessingFeedback()
    out = str(tmp_path / "change.tif")
    res = processing.run("earthask:change", {"BEFORE": before, "AFTER": after, "OUTPUT": out,
                                              "POLYGONS": "memory:", "QUESTION": "how much forest was lost?"},
                         feedback=feedback)
    log = feedback.textLog()
    assert res["OUTPUT"] == out and res["SOURCE"] == "measured"
    assert "noise floor" in log and "Compared over the overlap" in log and "Answer:" in res["ANSWER"] + log
    with rasterio.open(before) as b, rasterio.open(out) as m:
        assert (m.crs, m.transform, m.width, m.height) == (b.crs, b.transform, b.width, b.height)
        legend = {int(k): v for k, v in json.loads(m.tags()["CHANGE_LEGEND"]).items()}
        codes = m.read(1)
        pixel_m2 = abs(m.transform.a * m.transform.e)
    logged = {(a, b): float(m2) for a, b, m2 in ROW.findall(log)}
    assert logged[("forest", "barren")] == pytest.approx(72_000.0, rel=0.1)  # 720 px of 100 m², edges resampled
    assert sum(logged.values()) == pytest.approx(res["CHANGED_M2"], abs=0.5)
    by_name = {name: code for code, name in legend.items()}
    for (a, b), m2 in logged.items():  # every reported pair is its mask value's pixels, in m²
        assert (codes == by_name[f"{a} -> {b}"]).sum() * pixel_m2 == pytest.approx(m2, abs=0.1)
    layer = res["POLYGONS"]
    assert layer.crs().authid() == "EPSG:32618"
    assert {"from_class", "to_class", "area_m2", "area_ha"} <= set(layer.fields().names())
    sums: dict[tuple[str, str], float] = {}
    for f in layer.getFeatures():
        key = (f["from_class"], f["to_class"])
        assert key in logged  # polygons only outline reported changes
        assert f.geometry().area() == pytest.approx(f["area_m2"], rel=1e-6)
        sums[key] = sums.get(key, 0.0) + f["area_m2"]
    for key, m2 in sums.items():
        assert m2 <= logged[key] + 0.1  # patches below the polygon size are counted, not outlined


def test_loaded_outputs_are_styled_from_to(two_dates, tmp_path: Path) -> None:
    before, after = two_dates
    processing.runAndLoadResults("earthask:change", {"BEFORE": before, "AFTER": after,
                                                     "OUTPUT": str(tmp_path / "c.tif"),
                                                     "POLYGONS": str(tmp_path / "c.gpkg")})
    layers = list(QgsProject.instance().mapLayers().values())
    raster = next(lyr for lyr in layers if lyr.source() == str(tmp_path / "c.tif"))
    vector = next(lyr for lyr in layers if lyr.source().startswith(str(tmp_path / "c.gpkg")))
    renderer = raster.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    with rasterio.open(tmp_path / "c.tif") as m:
        legend = {int(k): v for k, v in json.loads(m.tags()["CHANGE_LEGEND"]).items()}
    labels = {c.value: c.label for c in renderer.classes()}
    assert len(labels) > 2  # reported pairs beside "no change" and the noise value
    assert labels[0] == "no change" and 254 in labels
    for value, label in labels.items():
        if value not in (0, 254):
            assert label.startswith(legend[value] + " (")  # "forest -> barren (1,234 m² (0.12 ha))"
    vr = vector.renderer()
    assert isinstance(vr, QgsCategorizedSymbolRenderer) and "from_class" in vr.classAttribute()
    assert {c.value() for c in vr.categories()} == {v for k, v in legend.items() if " -> " in v}


def test_one_raster_twice_is_refused(utm_raster: str) -> None:
    with pytest.raises(QgsProcessingException, match="two different rasters"):
        processing.run("earthask:change", {"BEFORE": utm_raster, "AFTER": utm_raster, "OUTPUT": "TEMPORARY_OUTPUT",
                                           "POLYGONS": "memory:"})


@pytest.mark.skipif(shutil.which("qgis_process") is None, reason="qgis_process is not installed")
def test_change_runs_from_qgis_process(two_dates, tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO))
    import build

    before, after = two_dates
    plugins = tmp_path / "plugins"
    with zipfile.ZipFile(build.build(tmp_path / "dist")) as zf:
        zf.extractall(plugins)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "profile"),
           "QGIS_PLUGINPATH": str(plugins), "PYTHONPATH": str(SITE_PACKAGES)}
    enable = subprocess.run(["qgis_process", "plugins", "enable", "earthask"], env=env, capture_output=True,
                            text=True, timeout=180)
    assert enable.returncode == 0, enable.stdout + enable.stderr
    out, gpkg = tmp_path / "change.tif", tmp_path / "change.gpkg"
    run = subprocess.run(["qgis_process", "--json", "run", "earthask:change", "--", f"BEFORE={before}",
                          f"AFTER={after}", "MODEL=tiny", f"OUTPUT={out}", f"POLYGONS={gpkg}",
                          "QUESTION=how much forest was lost?"], env=env, capture_output=True, text=True,
                         timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    results = json.loads(run.stdout)["results"]
    assert results["OUTPUT"] == str(out) and results["SOURCE"] == "measured" and "forest" in results["ANSWER"]
    assert out.is_file() and gpkg.is_file() and results["CHANGED_M2"] >= 0
