"""A tiny end-to-end fine-tune: a new class and a mapped one are learned, and the folder works as a model."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import torch
from shapely.geometry import box

from core.config import EngineConfig
from core.engine import Engine
from core.instances.phrase import parse_phrase
from core.labels.finetune import FinetuneOptions, finetune, set_loss
from core.labels.model import grow_classifier, grow_refiner
from models.config import VLMConfig
from models.segmenter import load_segmenter
from models.spectral import SpectralConfig, SpectralRefiner
from models.vlm import EarthVLM
from tests.rasters import UTM_CRS, UTM_TRANSFORM, make_raster

SIZE = 96
BANDS = ["blue", "green", "red", "nir", "swir16", "swir22"]


@pytest.fixture(scope="module", params=[False, True], ids=["fpn", "detail-decoder"])
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A tiny random checkpoint with a spectral refiner, as the default model has (its head with and without
    the detail decoder)."""
    folder = tmp_path_factory.mktemp("tiny") / "model"
    torch.manual_seed(0)
    model = EarthVLM(VLMConfig.tiny(seg_detail=request.param)).eval()
    model.save_pretrained(folder)
    SpectralRefiner(SpectralConfig(list(model.cfg.seg_classes), hidden=4)).save_pretrained(folder / "spectral")
    return folder


def scene(tmp_path: Path) -> tuple[str, Path]:
    """A 6-band raster whose west half is bright and east half dark, with 16 label squares: "panels" (a class
    the model lacks) on the bright half, "lake" (maps to water) on the dark half; labels in EPSG:4326."""
    rng = np.random.default_rng(0)
    data = rng.integers(200, 400, (6, SIZE, SIZE))
    data[:, :, : SIZE // 2] += 3000
    raster = make_raster(tmp_path / "scene.tif", SIZE, SIZE, 6, "uint16", descriptions=BANDS, data=data)
    rows = []
    for r in range(4):
        for c in range(4):
            x = UTM_TRANSFORM.c + 10 * (4 + 24 * c)
            y = UTM_TRANSFORM.f - 10 * (4 + 24 * r)
            rows.append(("panels" if c < 2 else "lake", box(x, y - 120, x + 120, y)))
    frame = gpd.GeoDataFrame({"kind": [n for n, _ in rows]}, geometry=[g for _, g in rows], crs=UTM_CRS)
    labels = tmp_path / "labels.gpkg"
    frame.to_crs("EPSG:4326").to_file(labels, driver="GPKG")
    return raster, labels


def test_a_new_class_is_learned_and_the_folder_works_as_a_model(tiny_checkpoint: Path, tmp_path: Path) -> None:
    raster, labels = scene(tmp_path)
    out = tmp_path / "tuned"
    # the tiny random encoder hardly tells bright from dark: the refiner's reflectance planes carry the lesson
    opts = FinetuneOptions(steps=40, batch=4, crop=48, lr=2e-2, held_out=0.25, block_m=240, gap_m=1, keep=0.0)
    result = finetune([raster], str(labels), "kind", out, str(tiny_checkpoint), options=opts)
    base = list(VLMConfig.load(tiny_checkpoint).seg_classes)
    assert result.classes == base + ["panels"] and result.new_classes == ["panels"]
    assert result.mapping == {"lake": ["water"], "panels": []}
    assert np.mean(result.losses[-5:]) < np.mean(result.losses[:5])
    record = json.loads((out / "labels.json").read_text())
    assert record["split"]["held_out"] and set(record["split"]["held_out"]).isdisjoint(record["split"]["train"])
    assert json.loads((out / "spectral" / "config.json").read_text())["classes"] == result.classes
    seg = load_segmenter(out)  # the head with 9 outputs loads strictly, as does the whole model
    assert seg.classes == result.classes
    assert EarthVLM.from_pretrained(out).cfg.seg_classes == result.classes
    with Engine(EngineConfig(model=str(out), device="cpu", backend="torch", tile=64, overlap=16)) as engine:
        seg_result = engine.segment(raster, out=str(tmp_path / "mask.tif"))
        assert seg_result.classes == result.classes
        import rasterio

        with rasterio.open(seg_result.mask_path) as ds:
            mask = ds.read(1)
        panels = result.classes.index("panels")
        assert (mask[:, : SIZE // 2] == panels).mean() > 0.5  # learned where it is
        assert (mask[:, SIZE // 2:] == result.classes.index("water")).mean() > 0.5
        assert parse_phrase("find the panels", engine.classes).cls == "panels"


def test_a_set_of_classes_is_cross_entropy_when_it_has_one_member() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 4, 4)
    target = torch.randint(-1, 3, (2, 4, 4))
    sets = torch.zeros(3, 5, dtype=torch.bool)
    sets[0, 1] = sets[1, 4] = sets[2, 0] = True
    want = torch.nn.functional.cross_entropy(logits, torch.tensor([1, 4, 0])[target.clamp(min=0)].masked_fill(
        target < 0, -100), ignore_index=-100)
    assert set_loss(torch.log_softmax(logits, 1), target, sets).item() == pytest.approx(want.item(), rel=1e-5)
    sets[0, 2] = True  # a label standing for two classes: -log(p1 + p2)
    p = torch.softmax(logits, 1)
    chosen = torch.stack([p[:, 1] + p[:, 2], p[:, 4], p[:, 0]], 1).gather(1, target.clamp(min=0).unsqueeze(1))[:, 0]
    want = -torch.log(chosen)[target >= 0].mean()
    assert set_loss(torch.log_softmax(logits, 1), target, sets).item() == pytest.approx(want.item(), rel=1e-5)


def test_growing_keeps_the_old_classes_scores() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 3, 1)
    grown = grow_classifier(conv, 5)
    x = torch.randn(1, 8, 4, 4)
    assert torch.allclose(grown(x)[:, :3], conv(x))
    refiner = SpectralRefiner(SpectralConfig(["a", "b", "c"], hidden=4))
    torch.nn.init.normal_(refiner.net[-1].weight)
    bigger = grow_refiner(refiner, ["a", "b", "c", "d"])
    logp = torch.log_softmax(torch.randn(1, 3, 6, 6), 1)
    bands = torch.rand(1, 8, 6, 6)
    with_d = torch.cat([logp, torch.full((1, 1, 6, 6), -12.0)], 1)  # the new class at the log floor
    assert torch.allclose(bigger(with_d, bands)[:, :3], refiner(logp, bands), atol=1e-5)
