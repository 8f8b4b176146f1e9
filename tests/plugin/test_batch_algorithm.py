"""earthask:batch with the real engine (tiny model) on a local Ray: a folder of rasters becomes a results layer in
EPSG:4326 with one done row per raster, a rerun skips them, and inputs that make no batch are one sentence."""

from __future__ import annotations

from pathlib import Path

import processing
import pytest
from qgis.core import Qgis, QgsApplication, QgsProcessingException, QgsVectorLayer

from tests.rasters import make_raster

pytestmark = pytest.mark.qgis


def test_it_is_listed_and_can_cancel(qgis_app) -> None:
    alg = QgsApplication.processingRegistry().algorithmById("earthask:batch")
    assert alg is not None and alg.flags() & Qgis.ProcessingAlgorithmFlag.CanCancel
    names = {p.name() for p in alg.parameterDefinitions()}
    assert {"TASK", "FOLDER", "LIST", "GRID", "MODEL", "OUTPUT_FOLDER"} <= names


def test_a_folder_becomes_a_results_layer_and_a_rerun_skips_what_is_done(qgis_app, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    (folder / "more").mkdir(parents=True)
    make_raster(folder / "a.tif", width=64, height=48, seed=1)
    make_raster(folder / "more" / "b.tif", width=48, height=64, seed=2)
    params = {"TASK": 0, "FOLDER": str(folder), "MODEL": "tiny", "OUTPUT_FOLDER": str(tmp_path / "out")}
    first = processing.run("earthask:batch", params)
    assert (first["DONE"], first["FAILED"]) == (2, 0)
    assert Path(first["TABLE"]).is_file()
    layer = QgsVectorLayer(first["OUTPUT_LAYER"] + "|layername=results", "results", "ogr")
    assert layer.isValid() and layer.featureCount() == 2 and layer.crs().authid() == "EPSG:4326"
    assert {f["status"] for f in layer.getFeatures()} == {"done"}
    assert {Path(f["path"]).name for f in layer.getFeatures()} == {"a.tif", "b.tif"}
    again = processing.run("earthask:batch", params)
    assert (again["DONE"], again["FAILED"]) == (0, 0)  # both skipped: done before with the same settings


@pytest.mark.parametrize(("extra", "words"), [
    ({}, "either a folder of rasters or a list"),
    ({"TASK": 5}, "'BEFORE AFTER' paths"),
])
def test_inputs_that_make_no_batch_are_one_sentence(qgis_app, tmp_path: Path, extra: dict, words: str) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    params = {"TASK": 0, "FOLDER": str(folder), "MODEL": "tiny", "OUTPUT_FOLDER": str(tmp_path / "out"), **extra}
    if not extra:
        listed = tmp_path / "list.txt"
        listed.write_text("a.tif\n")
        params["LIST"] = str(listed)
    with pytest.raises(QgsProcessingException, match=words):
        processing.run("earthask:batch", params)
