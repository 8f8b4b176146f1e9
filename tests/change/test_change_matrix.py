"""The from-to matrix, the noise floor, the change mask, polygons and objects against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from core.change.compare import compare_masks, noise_floor
from core.change.mask import NOISE, UNCHANGED, pair_code, read_legend
from core.change.matrix import transitions
from core.change.polygons import LAYER
from tests.change.change_masks import (
    BARREN,
    COMPARED_PX,
    HAND_PX,
    NOISE_PX,
    write_masks,
)
from tests.masks import BUILDING, CLASSES, FARM, FOREST, WATER

K = len(CLASSES)


@pytest.fixture()
def result(tmp_path: Path):  # noqa: ANN201
    before, after, control = write_masks(tmp_path)
    noise = noise_floor(before, control, K, "test control")
    return compare_masks(before, after, CLASSES, noise, tmp_path / "change.tif", tmp_path / "change.gpkg",
                         before="before.tif", after="after.tif", model="hand")


def test_transitions_match_hand_counts(tmp_path: Path) -> None:
    before, after, _ = write_masks(tmp_path)
    areas = transitions(before, after, K)
    expected = np.zeros((K, K))
    for (i, j), px in HAND_PX.items():
        expected[i, j] = px * 100.0  # 10 m UTM pixels: 100 m2 each
    np.testing.assert_allclose(areas, expected, rtol=1e-9)
    assert areas.sum() == pytest.approx(COMPARED_PX * 100.0)


def test_matrix_rows_have_areas_hectares_and_shares(result) -> None:  # noqa: ANN001
    assert len(result.matrix) == K * K  # every pair of classes, unchanged ones too
    assert result.compared_m2 == pytest.approx(7600.0) and result.before_m2 == pytest.approx(8000.0)
    assert result.overlap_share == pytest.approx(0.95)
    assert "95.0% of the first date's" in result.overlap_sentence()
    cleared = next(t for t in result.matrix if (t.from_class, t.to_class) == ("forest", "barren"))
    assert cleared.area_m2 == pytest.approx(600.0) and cleared.area_ha == pytest.approx(0.06)
    assert cleared.share == pytest.approx(600.0 / 7600.0)
    assert sum(t.share for t in result.matrix) == pytest.approx(1.0)
    rows = result.to_dict()["matrix"]
    assert {"from", "to", "area_m2", "share"} <= set(rows[0])


def test_noise_floor_hides_changes_within_it(result) -> None:  # noqa: ANN001
    assert result.noise.disagreement == pytest.approx(NOISE_PX / 80)
    reported = {(t.from_class, t.to_class) for t in result.reported()}
    # 500 m2 of agriculture -> forest is under 2 x (6/80 of 7600 m2) = 1140 m2: within the noise, not reported
    assert ("agriculture", "forest") not in reported
    creep = next(t for t in result.matrix if (t.from_class, t.to_class) == ("agriculture", "forest"))
    assert creep.noise_m2 == pytest.approx(6 / 80 * 7600) and creep.area_m2 == pytest.approx(500.0)
    back = next(t for t in result.matrix if (t.from_class, t.to_class) == ("forest", "agriculture"))
    assert back.noise_m2 == pytest.approx(creep.noise_m2)  # a shift moves boundaries both ways
    assert reported == {("forest", "barren"), ("water", "agriculture"), ("agriculture", "building")}
    assert result.changed_m2 == pytest.approx(600 + 600 + 400)
    assert "7.5% of unchanged ground" in result.noise.sentence()


def test_change_mask_values_colours_and_legend(result, tmp_path: Path) -> None:  # noqa: ANN001
    with rasterio.open(result.mask_path) as ds:
        m = ds.read(1)
        cmap = ds.colormap(1)
        assert ds.crs.to_epsg() == 32618 and ds.nodata == 255
    assert m[0, 2] == pair_code(FOREST, BARREN, K) and m[0, 0] == UNCHANGED
    assert m[5, 6] == pair_code(WATER, FARM, K) and m[4, 0] == pair_code(FARM, BUILDING, K)
    assert m[3, 4] == NOISE  # agriculture -> forest: within the noise floor
    assert (m[0:4, 9] == 255).all()
    legend = read_legend(result.mask_path)
    assert legend[pair_code(FOREST, BARREN, K)] == "forest -> barren" and legend[NOISE].startswith("change within")
    assert set(np.unique(m)) <= set(legend)  # every value in the mask is in its legend
    from core.palette import class_rgba

    assert cmap[pair_code(FOREST, BARREN, K)][:3] == class_rgba("barren")[:3]  # coloured as the class it became
    assert len({cmap[UNCHANGED], cmap[NOISE], cmap[pair_code(FOREST, BARREN, K)]}) == 3


def test_change_polygons_carry_from_to_and_area(result) -> None:  # noqa: ANN001
    from core.instances.polygons import read_objects_gpkg

    geoms, rows, crs = read_objects_gpkg(result.polygons_path, layer=LAYER)
    got = sorted((r["from_class"], r["to_class"], round(float(r["area_m2"]))) for r in rows)
    assert got == [("agriculture", "building", 400), ("forest", "barren", 600), ("water", "agriculture", 600)]
    assert "32618" in crs
    for g, r in zip(geoms, rows):
        assert g.area == pytest.approx(float(r["area_m2"]), rel=0.35)  # outlines are simplified by one pixel


def test_objects_counted_only_where_the_pixel_size_allows(tmp_path: Path) -> None:
    coarse = {o.cls: o for o in _result(tmp_path / "c", 10.0).objects}
    assert not coarse["building"].counted and "2 m or finer" in coarse["building"].why
    assert coarse["water"].counted and coarse["water"].disappeared == 1 and coarse["water"].after == 0
    assert coarse["barren"].appeared == 1 and coarse["forest"].appeared == 0
    fine = {o.cls: o for o in _result(tmp_path / "f", 1.0).objects}
    assert fine["building"].counted and fine["building"].appeared == 1 and fine["building"].before == 0


def _result(folder: Path, pixel_m: float):  # noqa: ANN202
    folder.mkdir()
    before, after, control = write_masks(folder, pixel_m)
    return compare_masks(before, after, CLASSES, noise_floor(before, control, K, "test"), folder / "change.tif")
