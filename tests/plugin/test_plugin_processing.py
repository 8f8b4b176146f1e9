"""The Processing provider with the real engine (tiny model): processing.run, batch flags and the modeler."""

from __future__ import annotations

import json

import processing
import pytest
from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterRasterLayer,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
)

pytestmark = pytest.mark.qgis
ALGORITHMS = ["earthask:caption_rasters", "earthask:caption_grid", "earthask:segment", "earthask:ask",
              "earthask:ground"]


@pytest.fixture
def two_rasters(tmp_path) -> list[str]:
    from rasters import GEO_CRS, GEO_TRANSFORM, make_raster

    return [make_raster(tmp_path / "utm.tif", width=96, height=80, seed=1),
            make_raster(tmp_path / "geo.tif", width=80, height=64, seed=2, crs=GEO_CRS, transform=GEO_TRANSFORM)]


def test_provider_lists_every_algorithm_and_they_support_batch(qgis_app) -> None:
    registry = QgsApplication.processingRegistry()
    for alg_id in ALGORITHMS:
        alg = registry.algorithmById(alg_id)
        assert alg is not None, alg_id
        assert alg.flags() & Qgis.ProcessingAlgorithmFlag.SupportsBatch
        assert alg.flags() & Qgis.ProcessingAlgorithmFlag.CanCancel
        assert alg.shortHelpString()
        assert "MODEL" in [p.name() for p in alg.parameterDefinitions()]


def test_caption_rasters_writes_each_footprint_with_its_caption_and_logs_it(two_rasters) -> None:
    feedback = QgsProcessingFeedback()
    result = processing.run("earthask:caption_rasters", {"INPUT": two_rasters, "OUTPUT": "memory:"},
                            feedback=feedback)
    table = result["OUTPUT"]
    rows = sorted(table.getFeatures(), key=lambda f: f["raster"])
    assert [r["raster"] for r in rows] == ["geo", "utm"]
    assert table.wkbType() == Qgis.WkbType.Polygon
    utm, geo = QgsRasterLayer(two_rasters[0], "utm"), QgsRasterLayer(two_rasters[1], "geo")
    assert table.crs() == utm.crs()  # the first raster's CRS
    names = table.fields().names()
    assert names[:3] == ["raster", "path", "caption"] and "retrieved" in names and "top_score" in names
    for row in rows:
        assert isinstance(row["caption"], str)
        assert row["tiles"] >= 1 and row["device"] == "cpu" and row["model"] and row["seconds"] > 0
    by_name = {r["raster"]: r for r in rows}
    utm_shape = by_name["utm"].geometry()
    assert utm_shape.area() == pytest.approx(utm.extent().area(), rel=1e-9)  # the raster's footprint
    assert utm_shape.boundingBox() == utm.extent()
    to_utm = QgsCoordinateTransform(geo.crs(), utm.crs(), QgsProject.instance())
    geo_extent = to_utm.transformBoundingBox(geo.extent())
    geo_shape = by_name["geo"].geometry()  # reprojected into UTM: the same ground
    assert geo_shape.boundingBox().width() == pytest.approx(geo_extent.width(), rel=0.01)
    assert geo_shape.boundingBox().height() == pytest.approx(geo_extent.height(), rel=0.01)
    log = feedback.textLog()
    for row in rows:
        assert f"{row['raster']}: {row['caption']}" in log  # every caption is in the Processing log


def test_caption_grid_captions_each_cell_inside_the_raster(two_rasters) -> None:
    scene = QgsRasterLayer(two_rasters[0], "utm")
    mercator = QgsCoordinateReferenceSystem("EPSG:3857")
    extent = QgsCoordinateTransform(scene.crs(), mercator, QgsProject.instance()).transformBoundingBox(
        scene.extent())
    grid = processing.run("native:creategrid", {
        "TYPE": 2, "EXTENT": extent, "HSPACING": extent.width() / 2 + 1e-6, "VSPACING": extent.height() / 2 + 1e-6,
        "CRS": mercator, "OUTPUT": "memory:"})["OUTPUT"]
    assert grid.featureCount() == 4
    cells = {f["id"]: f.geometry() for f in grid.getFeatures()}
    fids = {f["id"]: f.id() for f in grid.getFeatures()}
    far = QgsFeature(grid.fields())
    far.setGeometry(QgsGeometry.fromRect(QgsRectangle(0, 0, 1000, 1000)))  # off the coast of Africa
    far.setAttributes([99, 0.0, 0.0, 0.0, 0.0, 0, 0])
    grid.dataProvider().addFeature(far)
    feedback = QgsProcessingFeedback()
    out = processing.run("earthask:caption_grid", {"RASTER": scene, "GRID": grid, "OUTPUT": "memory:"},
                         feedback=feedback)["OUTPUT"]
    assert out.featureCount() == 4 and out.crs() == mercator
    ids = sorted(f["id"] for f in out.getFeatures())
    assert 99 not in ids and len(ids) == 4
    for feature in out.getFeatures():
        assert feature.geometry().boundingBox().intersects(extent)
        assert isinstance(feature["caption"], str) and feature["tiles"] >= 1
        assert feature.geometry().equals(cells[feature["id"]])  # the cell itself, with its caption
        assert f"cell {fids[feature['id']]}: {feature['caption']}" in feedback.textLog()


def test_segment_ask_and_ground(two_rasters, tmp_path) -> None:
    scene = QgsRasterLayer(two_rasters[0], "utm")
    e = scene.extent()
    extent = QgsRectangle(e.xMinimum(), e.yMinimum(), e.center().x(), e.center().y())
    seg = processing.run("earthask:segment", {"RASTER": scene, "EXTENT": extent,
                                              "OUTPUT": str(tmp_path / "landcover.tif")})
    mask = QgsRasterLayer(seg["OUTPUT"], "mask")
    assert mask.isValid() and mask.crs() == scene.crs()
    assert abs(mask.extent().width() - extent.width()) <= 10 and abs(mask.extent().height() - extent.height()) <= 10
    assert seg["CLASSES"].split("|")[0] == "background"

    answer = processing.run("earthask:ask", {"RASTER": scene, "QUESTION": "Is there water?", "CHOICES": "yes | no",
                                             "OUTPUT_JSON": str(tmp_path / "answer.json")})
    data = json.loads((tmp_path / "answer.json").read_text())
    assert answer["ANSWER"] == data["answer"]  # a random tiny model may pick no choice: any string
    assert data["question"] == "Is there water?" and data["choices"] == ["yes", "no"]
    assert data["provenance"]["tiles"] >= 1 and data["provenance"]["class_stats"]

    assert answer["SOURCE"] in ("measured", "model", "checked") and answer["SOURCE"] == data["source"]

    # "find" the class the segmentation measured most of: the land-cover path, and there is something to find
    stats = sorted(data["provenance"]["class_stats"], key=lambda c: -c["area_m2"])
    cls = next(c["name"] for c in stats if c["name"] != "background")
    found = processing.run("earthask:ground", {"RASTER": scene, "PROMPT": f"the {cls}", "OUTPUT": "memory:"})
    layer = found["OUTPUT"]
    assert found["SOURCE"] == "measured"
    assert layer.fields().names() == ["label", "area_m2", "area_ha", "position", "rule", "score"]
    assert layer.crs() == scene.crs() and layer.featureCount() > 0
    for feature in layer.getFeatures():
        assert feature["label"] == cls and feature["area_m2"] > 0
        assert feature.geometry().area() > 0 and scene.extent().contains(feature.geometry().boundingBox())


def test_bad_input_is_a_processing_error_with_one_sentence(two_rasters) -> None:
    with pytest.raises(QgsProcessingException, match="The question is empty"):
        processing.run("earthask:ask", {"RASTER": two_rasters[0], "QUESTION": " "})
    far = QgsRectangle(0, 0, 1000, 1000)
    with pytest.raises(QgsProcessingException, match="does not overlap"):
        processing.run("earthask:segment", {"RASTER": two_rasters[0], "EXTENT": far, "OUTPUT": "TEMPORARY_OUTPUT"})


def test_algorithms_run_inside_a_model(two_rasters, tmp_path) -> None:
    model = QgsProcessingModelAlgorithm("describe and ask", "EarthAsk tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("scene", "Scene"), QgsProcessingModelParameter("scene"))
    child = QgsProcessingModelChildAlgorithm("earthask:ask")
    child.setChildId("ask")
    child.addParameterSources("RASTER", [QgsProcessingModelChildParameterSource.fromModelParameter("scene")])
    child.addParameterSources("QUESTION", [QgsProcessingModelChildParameterSource.fromStaticValue("Any roads?")])
    child.addParameterSources("CHOICES", [QgsProcessingModelChildParameterSource.fromStaticValue("yes|no")])
    output = QgsProcessingModelOutput("answer_json")
    output.setChildOutputName("OUTPUT_JSON")
    child.setModelOutputs({"answer_json": output})
    model.addChildAlgorithm(child)
    valid, issues = model.validate()
    assert valid, issues
    path = tmp_path / "model_answer.json"
    results = processing.run(model, {"scene": two_rasters[1], "ask:answer_json": str(path)})
    assert results["ask:answer_json"] == str(path)
    data = json.loads(path.read_text())
    assert data["question"] == "Any roads?" and data["choices"] == ["yes", "no"]


def test_choices_are_separated_by_the_pipe_as_in_the_command_line(two_rasters) -> None:
    from plugin.intent import CHOICE_SEPARATOR, split_choices

    assert CHOICE_SEPARATOR == "|" and split_choices("yes | no") == ["yes", "no"] and split_choices(" ") is None
    with pytest.raises(QgsProcessingException, match="Separate the choices with '\\|'"):
        processing.run("earthask:ask", {"RASTER": two_rasters[0], "QUESTION": "Is there water?",
                                        "CHOICES": "yes, no"})
    with pytest.raises(QgsProcessingException, match="at least two choices"):
        processing.run("earthask:ask", {"RASTER": two_rasters[0], "QUESTION": "Is there water?", "CHOICES": "yes"})


def test_no_parameter_reads_optional_twice(qgis_app) -> None:
    """qgis_process prints an optional parameter as ``NAME: description (optional)``: the description itself
    must not say so, nor end in a parenthesis of its own."""
    provider = QgsApplication.processingRegistry().providerById("earthask")
    algorithms = provider.algorithms()
    assert len(algorithms) >= len(ALGORITHMS)
    for alg in algorithms:
        for param in alg.parameterDefinitions():
            text = param.description()
            shown = text + (" (optional)" if param.flags() & Qgis.ProcessingParameterFlag.Optional else "")
            assert "optional" not in text.lower(), f"{alg.id()} {param.name()}: {text}"
            assert shown.count("(") <= 1, f"{alg.id()} {param.name()}: {shown}"
