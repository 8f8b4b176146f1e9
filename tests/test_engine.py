"""The engine end to end with a tiny random model on small real GeoTIFFs (UTM and WGS 84)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio

from core.config import EngineConfig
from core.engine import Engine
from core.errors import Cancelled, InputError
from core.geo import read_boxes_gpkg
from tests.rasters import GEO_CRS, GEO_TRANSFORM, UTM_CRS, make_raster


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine(EngineConfig(model="tiny", device="cpu", tile=64, overlap=16, batch_size=4))
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_raster(tmp_path_factory.mktemp("scene") / "utm.tif", width=150, height=110, count=4,
                       dtype="uint16", seed=3)


def test_segment_writes_a_georeferenced_mask_with_map_unit_stats(engine: Engine, scene: str, tmp_path) -> None:
    out = tmp_path / "landcover.tif"
    result = engine.segment(scene, out=str(out))
    with rasterio.open(scene) as src, rasterio.open(out) as mask:
        assert mask.crs == src.crs and mask.transform == src.transform
        assert (mask.width, mask.height) == (src.width, src.height)
        values = mask.read(1)
        colours = mask.colormap(1)
    water, forest = result.classes.index("water"), result.classes.index("forest")
    assert colours[water] == (40, 110, 230, 255) and colours[forest] == (20, 120, 40, 255)  # land-cover palette
    assert values.max() < len(result.classes)  # every pixel got a class (no nodata in this scene)
    prov = result.provenance
    assert prov.crs == UTM_CRS and prov.model_id == "tiny-random" and prov.device == "cpu"
    assert prov.tiles == 6  # 150x110, tile 64, stride 48: ceil(86/48)+1 = 3 columns, ceil(46/48)+1 = 2 rows
    total_m2 = sum(s.area_m2 for s in prov.class_stats)
    background = np.count_nonzero(values == 0) * 100.0  # 10 m pixels
    assert total_m2 + background == pytest.approx(150 * 110 * 100.0)  # every pixel measured once, in m2
    assert all(s.area_ha == pytest.approx(s.area_m2 / 1e4) for s in prov.class_stats)
    assert prov.band_profile["name"] == "naip"


def test_ask_answers_with_the_measured_land_cover_in_the_prompt(engine: Engine, scene: str) -> None:
    streamed: list[str] = []
    question = "What could this area be used for?"  # nothing to measure: the model answers
    result = engine.ask(scene, question, on_text=streamed.append)
    assert result.question == question and result.source in ("model", "checked") and result.query is None
    words = "".join(streamed).strip()
    assert words in (result.answer.strip(), (result.model_answer or "").strip())  # what streamed is the model's
    assert question in result.provenance.prompt
    assert result.provenance.class_stats and "Land cover:" in result.provenance.prompt
    biggest = max(result.provenance.class_stats, key=lambda c: c.fraction)
    assert biggest.name in result.provenance.prompt  # the measured figures reach the model
    assert result.provenance.notes and "tiny random" in result.provenance.notes[0]


def test_multiple_choice_answer_is_one_of_the_choices_or_the_raw_text(engine: Engine, scene: str) -> None:
    streamed: list[str] = []
    result = engine.ask(scene, "What is this area like to live in?", choices=["pleasant", "noisy"],
                        on_text=streamed.append)
    assert result.choices == ["pleasant", "noisy"] and result.source in ("model", "checked")
    assert result.answer in result.choices or result.answer == "".join(streamed).strip()
    assert "A. pleasant" in result.provenance.prompt and "B. noisy" in result.provenance.prompt


def test_measurable_questions_are_answered_from_the_measurement(engine: Engine, scene: str) -> None:
    result = engine.ask(scene, "How many water bodies are there?")
    stat = next((s for s in result.provenance.class_stats if s.name == "water"), None)
    assert result.source == "measured" and result.query == {"kind": "count", "classes": ["water"]}
    assert result.answer == str(stat.count if stat else 0)  # never contradicts the figures beside it
    assert result.provenance.prompt == ""  # the language model was not asked
    buildings = engine.ask(scene, "How many buildings are there?")  # 10 m pixels: not counted, and why
    assert buildings.source == "measured" and buildings.answer == "not counted at 10 m"
    assert "cannot be told apart at 10 m pixels" in buildings.explanation
    water = next((s for s in result.provenance.class_stats if s.name == "water"), None)
    pct = 100 * (water.fraction if water else 0.0)
    bins = [f"{10 * i}%-{10 * (i + 1)}%" for i in range(10)]
    mc = engine.ask(scene, "What percentage of the scene is water?", choices=bins)
    assert mc.source == "measured" and mc.answer == bins[min(int(pct // 10), 9)]
    assert f"{pct:.1f}%" in mc.explanation


def test_segmentation_is_reused_between_questions_on_the_same_area(engine: Engine, scene: str) -> None:
    engine.ask(scene, "Is there a road?")
    made, kept = engine._made, dict(engine._segmentations)
    engine.ask(scene, "Is there a forest?")
    assert engine._made == made and engine._segmentations == kept  # no second segmentation, same mask file
    assert all(os.path.isfile(path) for path, _, _ in kept.values())


def test_segment_after_a_question_copies_the_kept_segmentation(engine: Engine, scene: str, tmp_path) -> None:
    with rasterio.open(scene) as src:
        b = src.bounds
    aoi = [b.left + 100, b.bottom + 100, b.left + 900, b.bottom + 700]  # an area no other test segments
    asked = engine.ask(scene, "How much of this is water?", aoi=aoi)
    made = engine._made
    kept_path = next(reversed(engine._segmentations.values()))[0]
    out = tmp_path / "landcover.tif"
    result = engine.segment(scene, aoi=aoi, out=str(out))
    assert engine._made == made  # not segmented a second time
    with rasterio.open(kept_path) as kept, rasterio.open(out) as written:
        assert written.crs == kept.crs and written.transform == kept.transform
        assert np.array_equal(written.read(1), kept.read(1))  # the very mask the answer was measured on
    assert result.provenance.class_stats == asked.provenance.class_stats
    assert result.provenance.tiles == asked.provenance.tiles
    assert sorted(os.listdir(tmp_path)) == ["landcover.tif"]  # written atomically: no partial file left
    engine.segment(scene, aoi=aoi, out=str(out))  # an existing output is replaced, still without segmenting
    assert engine._made == made and os.path.isfile(kept_path)


def test_aoi_in_another_crs_limits_the_analysed_window(engine: Engine, scene: str) -> None:
    with rasterio.open(scene) as src:
        b = src.bounds
    from pyproj import Transformer

    to_ll = Transformer.from_crs(UTM_CRS, "EPSG:4326", always_xy=True)
    x0, y0 = to_ll.transform(b.left + 200, b.bottom + 200)
    x1, y1 = to_ll.transform(b.left + 700, b.bottom + 600)
    result = engine.caption(scene, aoi=f"{x0},{y0},{x1},{y1}@EPSG:4326")
    xmin, ymin, xmax, ymax = result.provenance.aoi
    assert b.left + 150 <= xmin < xmax <= b.left + 760 and b.bottom + 150 <= ymin < ymax <= b.bottom + 660
    assert sum(s.area_m2 for s in result.provenance.class_stats) <= (xmax - xmin) * (ymax - ymin) + 1e-6


def test_ground_writes_a_geopackage_in_the_raster_crs(engine: Engine, tmp_path, monkeypatch) -> None:
    from models.vlm import GenerationOutput

    scene = make_raster(tmp_path / "wgs84.tif", width=80, height=70, crs=GEO_CRS, transform=GEO_TRANSFORM)
    out = tmp_path / "boxes.gpkg"
    text = "<box>100,200,500,600</box>"  # what a model would say; the tiny random one rarely says a box
    tokens = ["<box>", "100", ",", "200", ",", "500", ",", "600", "</box>"]
    monkeypatch.setattr(engine, "generate", lambda *a, **k: GenerationOutput(text, [-0.1] * 9, "", tokens))
    result = engine.ground(scene, "the cars", out=str(out))  # no land-cover class: the model's boxes
    assert result.source == "model" and result.query is None and result.objects == []
    boxes, attrs, crs = read_boxes_gpkg(out)
    assert crs == GEO_CRS and len(boxes) == len(result.boxes) == 1
    with rasterio.open(scene) as src:
        b = src.bounds
    box = result.boxes[0]  # inside the scene, in its CRS, where the 0-999 box says
    assert b.left <= box.x1 < box.x2 <= b.right and b.bottom <= box.y1 < box.y2 <= b.top
    assert box.x1 > b.left and box.y2 < b.top  # not the whole scene: the box starts 10% in
    assert attrs[0]["prompt"] == "the cars" and boxes[0].x1 == pytest.approx(box.x1)


def test_classify_scores_are_a_distribution_over_the_labels(engine: Engine, scene: str) -> None:
    result = engine.classify(scene, labels=["urban", "rural", "water"])
    assert set(result.scores) == {"urban", "rural", "water"}
    assert sum(result.scores.values()) == pytest.approx(1.0)
    assert result.label == max(result.scores, key=result.scores.get)


def test_cancel_leaves_no_output_file(scene: str, tmp_path) -> None:
    out = tmp_path / "cancelled.tif"
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 1  # before the second of the two tile batches

    with Engine(EngineConfig(model="tiny", device="cpu", tile=64, overlap=16, batch_size=4)) as fresh:
        with pytest.raises(Cancelled):  # a fresh engine: nothing kept to copy, the scene is really segmented
            fresh.segment(scene, out=str(out), cancelled=cancelled)
        assert fresh._made == 1
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(raster="/no/such/file.tif", question="q"), "not found"),
        (dict(question="   "), "empty"),
        (dict(question="q", aoi="0,0,1,1"), "outside"),
        (dict(question="q", choices=["only one"]), "two choices"),
    ],
)
def test_bad_input_is_one_clear_input_error(engine: Engine, scene: str, kwargs: dict, message: str) -> None:
    kwargs.setdefault("raster", scene)
    with pytest.raises(InputError, match=message):
        engine.ask(**kwargs)


def test_onnx_backend_segments_like_torch(scene: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EARTHASK_CACHE", str(tmp_path / "cache"))
    masks, used = {}, {}
    for backend in ("torch", "onnx", "auto"):
        eng = Engine(EngineConfig(model="tiny", device="cpu", backend=backend, tile=64, overlap=16))
        out = tmp_path / f"{backend}.tif"
        result = eng.segment(scene, out=str(out))
        with rasterio.open(out) as ds:
            masks[backend] = ds.read(1)
        used[backend] = result.provenance.backend
        eng.close()
    assert used == {"torch": "torch", "onnx": "onnx (CPUExecutionProvider)",
                    "auto": "onnx (CPUExecutionProvider; picked by auto)"}  # auto: onnx on CPU, and says so
    assert EngineConfig().backend == "auto"
    assert np.mean(masks["torch"] == masks["onnx"]) > 0.999
    np.testing.assert_array_equal(masks["auto"], masks["onnx"])


def test_shipped_semantic_database_serves_only_the_shipped_model(tmp_path) -> None:
    from core.models_io import DEFAULT_DB_DIR, DEFAULT_MODEL_DIR, LoadedModel, default_semantic_db

    shipped = LoadedModel(model=None, model_id="default", directory=DEFAULT_MODEL_DIR, notes=[])
    other = LoadedModel(model=None, model_id="mine", directory=tmp_path, notes=[])
    tiny = LoadedModel(model=None, model_id="tiny-random", directory=None, notes=[])
    if (DEFAULT_DB_DIR / "index.faiss").is_file():
        assert default_semantic_db(shipped, None) == DEFAULT_DB_DIR
    assert default_semantic_db(other, None) is None and default_semantic_db(tiny, None) is None
    with pytest.raises(InputError, match="not found"):
        default_semantic_db(tiny, str(tmp_path / "nowhere"))


def test_a_model_without_a_database_retrieves_nothing_and_says_so(engine: Engine, scene: str) -> None:
    result = engine.caption(scene)
    assert result.provenance.retrieved == []
    assert any("no semantic database" in note for note in result.provenance.notes)


def test_default_scene_labels_are_the_ones_the_model_was_trained_on(engine: Engine, scene: str) -> None:
    from core.data.captions import SCENE_LABELS  # what the data builder offers; a checkpoint records its own

    assert list(engine.classify(scene).scores) == engine.loaded.model.cfg.scene_labels == SCENE_LABELS


def test_kept_segmentations_are_bounded_and_close_removes_every_temporary_file(
        scene: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    import core.engine

    monkeypatch.setattr(core.engine, "MAX_AREAS", 2)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with rasterio.open(scene) as src:
        b = src.bounds
    aois = [f"{b.left + d},{b.bottom + d},{b.left + d + 500},{b.bottom + d + 400}" for d in (0, 100, 200)]
    with Engine(EngineConfig(model="tiny", device="cpu", tile=64, overlap=16)) as eng:
        masks = []
        for aoi in aois:
            eng.ask(scene, "How much is water?", aoi=aoi)
            masks.append(next(reversed(eng._segmentations.values()))[0])
        assert len(eng._segmentations) == 2 and len(set(masks)) == 3
        assert not os.path.exists(masks[0]) and all(os.path.exists(m) for m in masks[1:])  # the oldest went
        assert os.listdir(tmp_path)  # the engine's folder while it runs
    assert os.listdir(tmp_path) == []  # closed: nothing left in the temp folder
