"""earthask:check_labels and earthask:teach through Processing: scores, a report, a new model folder, Cancel."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import processing
import pytest
import torch
from qgis.core import Qgis, QgsApplication, QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer
from shapely.geometry import box

from models.config import VLMConfig
from models.vlm import EarthVLM
from tests.rasters import UTM_CRS, UTM_TRANSFORM, make_raster

pytestmark = pytest.mark.qgis


def labelled_scene(tmp_path: Path) -> tuple[str, QgsVectorLayer]:
    raster = make_raster(tmp_path / "scene.tif", width=64, height=64, seed=3)
    x0, y0 = UTM_TRANSFORM.c, UTM_TRANSFORM.f
    rows = [("water" if c % 2 else "solar panels",
             box(x0 + 10 * (4 + 16 * c), y0 - 10 * (14 + 16 * r), x0 + 10 * (14 + 16 * c), y0 - 10 * (4 + 16 * r)))
            for r in range(4) for c in range(4)]
    frame = gpd.GeoDataFrame({"kind": [n for n, _ in rows]}, geometry=[g for _, g in rows], crs=UTM_CRS)
    path = tmp_path / "labels.gpkg"
    frame.to_crs("EPSG:4326").to_file(path, driver="GPKG")
    layer = QgsVectorLayer(str(path), "labels", "ogr")
    assert layer.isValid()
    return raster, layer


def test_both_are_listed_and_can_cancel(qgis_app) -> None:
    for alg_id in ("earthask:check_labels", "earthask:teach"):
        alg = QgsApplication.processingRegistry().algorithmById(alg_id)
        assert alg is not None, alg_id
        assert alg.flags() & Qgis.ProcessingAlgorithmFlag.CanCancel
        assert {"RASTER", "LABELS", "CLASS_FIELD", "MAPPING", "MODEL"} <= {p.name() for p in alg.parameterDefinitions()}


def test_check_scores_and_writes_the_report(qgis_app, tmp_path: Path) -> None:
    raster, layer = labelled_scene(tmp_path)
    out = tmp_path / "report"
    result = processing.run("earthask:check_labels", {"RASTER": raster, "LABELS": layer, "CLASS_FIELD": "kind",
                                                      "MAPPING": "solar panels=building", "MODEL": "tiny",
                                                      "OUTPUT_FOLDER": str(out)})
    scores = json.loads((out / "scores.json").read_text())["model"]
    assert result["MIOU"] == pytest.approx(scores["miou"])
    assert scores["classes"]["solar panels"]["mapped_to"] == ["building"]
    assert (out / "report.png").is_file() and Path(result["DISAGREEMENTS"]).is_file()


def test_teach_makes_a_model_with_the_new_class_and_cancel_stops_it(qgis_app, tmp_path: Path) -> None:
    raster, layer = labelled_scene(tmp_path)
    base = tmp_path / "base"
    torch.manual_seed(0)
    EarthVLM(VLMConfig.tiny()).save_pretrained(base)
    params = {"RASTER": raster, "LABELS": layer, "CLASS_FIELD": "kind", "MODEL": str(base), "STEPS": 3,
              "OUTPUT_MODEL": str(tmp_path / "taught")}
    result = processing.run("earthask:teach", params)
    assert result["CLASSES"].split("|")[-1] == "solar panels"
    assert VLMConfig.load(tmp_path / "taught").seg_classes[-1] == "solar panels"
    assert result["AFTER_MIOU"] is not None
    feedback = QgsProcessingFeedback()
    feedback.cancel()
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("earthask:teach", {**params, "OUTPUT_MODEL": str(tmp_path / "never")}, feedback=feedback)
    assert not (tmp_path / "never" / "model.safetensors").exists()
