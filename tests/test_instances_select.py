"""Selecting objects: size, region, neighbour and colour filters, order and limit, and the rule that says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core import analysis
from core.instances.colour import colour_name, object_colours
from core.instances.phrase import InstanceQuery, parse_phrase
from core.instances.select import near_limit_m, select_objects
from core.landcover.grid import MaskGrid, find_objects, read_mask
from tests.masks import BUILDING_BOXES, CLASSES, WATER_BOXES, scene_mask, write_mask
from tests.rasters import UTM_CRS, UTM_TRANSFORM, make_raster


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> MaskGrid:
    return read_mask(write_mask(tmp_path_factory.mktemp("mask") / "utm.tif", scene_mask(), UTM_CRS, UTM_TRANSFORM))


def _pick(grid: MaskGrid, phrase: str) -> list[tuple[int, int, int, int]]:
    query = parse_phrase(phrase, CLASSES)
    assert query is not None, phrase
    found = find_objects(grid, CLASSES, query.cls)
    return [o.box for o in select_objects(found, grid, query, CLASSES).objects]


def test_order_limit_and_size_filters(grid: MaskGrid) -> None:
    a, b = WATER_BOXES["A"], WATER_BOXES["B"]
    c = (30, 25, 35, 30)
    assert _pick(grid, "the water bodies") == [b, a, c]  # largest first by default
    assert _pick(grid, "the 2 largest lakes") == [b, a]
    assert _pick(grid, "the smallest pond") == [c]
    assert _pick(grid, "the lakes, smallest first") == [c, a, b]
    assert _pick(grid, "lakes bigger than 0.5 ha") == [b, a]  # 32000 and 6000 m2
    assert _pick(grid, "ponds smaller than 1000 m2") == [c]  # 700 m2 (the 300 m2 speck is below 4 pixels)
    assert _pick(grid, "lakes between 0.1 and 1 ha") == [a]


def test_region_is_decided_by_the_centroid_in_the_valid_envelope(grid: MaskGrid) -> None:
    a, b = WATER_BOXES["A"], WATER_BOXES["B"]
    assert _pick(grid, "lakes in the north-west") == [a]
    assert _pick(grid, "lakes in the bottom-right corner") == [b]
    assert _pick(grid, "lakes in the southern half") == [b]
    assert _pick(grid, "lakes in the north-east") == []


def test_neighbour_filters_use_next_to_and_near_distances(grid: MaskGrid) -> None:
    assert near_limit_m(grid, "next_to") == pytest.approx(20.0) and near_limit_m(grid, "near") == pytest.approx(100.0)
    b1, b2 = BUILDING_BOXES["b1"], BUILDING_BOXES["b2"]
    assert _pick(grid, "houses next to the road") == [b1]  # touching: 1 pixel, 10 m
    assert _pick(grid, "buildings near the road") == [b2, b1]  # b2 is 60 m away, b3 300 m
    assert _pick(grid, "buildings next to a playground") == []  # no playground at all


def test_rule_and_warning_say_what_was_looked_for(grid: MaskGrid) -> None:
    found = find_objects(grid, CLASSES, "water")
    sel = select_objects(found, grid, InstanceQuery("water", limit=1, region="south-east ninth"), CLASSES)
    assert sel.rule == "water objects of at least 400 m2 in the south-east ninth, largest first (1 of 1)"
    assert sel.matched == 1 and sel.total == 3 and not sel.warnings
    none = select_objects(found, grid, InstanceQuery("water", min_area_m2=1e6), CLASSES)
    assert none.objects == [] and len(none.warnings) == 1
    assert "looked for water objects of at least 1.00 km2" in none.warnings[0] and "3 water objects" in none.warnings[0]


@pytest.mark.parametrize(
    ("rgb", "name"),
    [((0.8, 0.1, 0.1), "red"), ((0.85, 0.45, 0.2), "red"), ((0.45, 0.3, 0.15), "brown"), ((0.1, 0.5, 0.15), "green"),
     ((0.1, 0.25, 0.8), "blue"), ((0.92, 0.92, 0.9), "white"), ((0.5, 0.5, 0.52), "grey"), ((0.08, 0.1, 0.09), "dark")],
)
def test_colour_names_follow_the_hsv_rules(rgb: tuple[float, float, float], name: str) -> None:
    assert colour_name(rgb) == name


def test_colour_filter_reads_the_object_pixels_of_the_image(grid: MaskGrid, tmp_path: Path) -> None:
    data = np.zeros((3, 60, 90), dtype=np.uint8)
    data[:] = np.array([60, 140, 60], dtype=np.uint8)[:, None, None]  # green fields
    paint = {"b1": (200, 30, 30), "b2": (30, 60, 200), "b3": (235, 235, 235)}
    for key, colour in paint.items():
        c1, r1, c2, r2 = BUILDING_BOXES[key]
        data[:, r1:r2, c1:c2] = np.array(colour, dtype=np.uint8)[:, None, None]
    image = make_raster(tmp_path / "rgb.tif", width=90, height=60, count=3, dtype="uint8", data=data)
    area = analysis.locate(image, None)
    found = find_objects(grid, CLASSES, "building")
    named = object_colours(area, grid, found, found.objects)
    assert {o.box: named[o.id] for o in found.objects} == {BUILDING_BOXES[k]: n for k, n in
                                                           (("b1", "red"), ("b2", "blue"), ("b3", "white"))}
    for phrase, key in (("red roofs", "b1"), ("the blue-roofed buildings", "b2"), ("white houses", "b3")):
        query = parse_phrase(phrase, CLASSES)
        sel = select_objects(found, grid, query, CLASSES, lambda objs: object_colours(area, grid, found, objs))
        assert [o.box for o in sel.objects] == [BUILDING_BOXES[key]], phrase
        assert f"looking {query.colour} in the image" in sel.rule
    no_image = select_objects(found, grid, InstanceQuery("building", colour="red"), CLASSES)
    assert no_image.objects == [] and any("colour" in w for w in no_image.warnings)
