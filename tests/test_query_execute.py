"""Every query kind run over hand-built masks, against figures worked out by hand; multiple choice; EPSG:4326."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod

from core.landcover.regions import REGIONS
from core.landcover.words import UNIT_FACTORS
from core.query.execute import execute
from core.query.facts import AreaFacts
from core.query.types import Query
from models.config import EARTHVQA_CLASSES
from tests.rasters import GEO_CRS, GEO_TRANSFORM, UTM_CRS, UTM_TRANSFORM, make_raster

BG, BUILDING, ROAD, WATER, BARREN, FOREST, AGRI, PLAYGROUND = range(8)
PIXEL_M2 = 100.0  # UTM_TRANSFORM: 10 m pixels
# Hand counts of the 30 x 30 scene below (900 pixels, 9 ha).
PIXELS = {"building": 30, "road": 24, "water": 69, "barren": 1, "forest": 96, "agriculture": 72, "playground": 0}


def scene() -> np.ndarray:
    """30 x 30 class mask (row 0 = north): 4 building objects, a road strip, a lake at the east edge and a pond.

    building  A rows 2-4 cols 2-4 (9 px, north-west ninth), B rows 18-19 cols 10-11 (4 px, touches the road,
              centre ninth), C rows 2-4 cols 12-14 + D rows 5-6 cols 15-16 touching C at a corner (one object of
              13 px, centroid col 14.27 row 4.27: north ninth), F rows 23-24 cols 6-7 (4 px, 3 rows = 30 m from the
              road, south-west ninth)
    road      row 20, cols 0-23 (24 px)
    water     lake rows 0-9 cols 24-29 (60 px, at the east edge), pond rows 25-27 cols 25-27 (9 px)
    forest    rows 22-29 cols 10-21 (96 px); agriculture rows 10-17 cols 0-8 (72 px); barren one pixel (28, 0)
    """
    m = np.zeros((30, 30), np.uint8)
    m[20, 0:24] = ROAD
    m[0:10, 24:30] = WATER
    m[25:28, 25:28] = WATER
    m[2:5, 2:5] = BUILDING
    m[18:20, 10:12] = BUILDING
    m[2:5, 12:15] = BUILDING
    m[5:7, 15:17] = BUILDING
    m[23:25, 6:8] = BUILDING
    m[22:30, 10:22] = FOREST
    m[10:18, 0:9] = AGRI
    m[28, 0] = BARREN
    return m


@pytest.fixture(autouse=True)
def count_at_any_pixel_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """These 10 m masks test the counting logic itself (components, regions, "next to"); the rule that single
    buildings are not counted at pixels coarser than about 2 m is tested in tests/test_landcover_resolution.py."""
    import core.landcover.resolution

    monkeypatch.setattr(core.landcover.resolution, "COUNT_GSD_M", {})


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> AreaFacts:
    path = make_raster(tmp_path_factory.mktemp("query") / "mask.tif", width=30, height=30, count=1,
                       data=scene()[None], nodata=255)
    return AreaFacts.from_file(path, EARTHVQA_CLASSES)


def test_scene_pixels_are_as_drawn(facts: AreaFacts) -> None:
    counts = np.bincount(facts.mask.ravel(), minlength=8)
    assert {c: int(counts[i]) for i, c in enumerate(EARTHVQA_CLASSES) if c != "background"} == PIXELS
    assert facts.stats.valid_area_m2 == pytest.approx(900 * PIXEL_M2)


# ----- share and area -------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ["water", "forest", "building", "road"])
def test_share(facts: AreaFacts, cls: str) -> None:
    pct = 100 * PIXELS[cls] / 900
    a = execute(Query("share", [cls], unit="%"), facts)
    assert a.value == pytest.approx(pct, abs=0.005) and a.unit == "%"
    assert a.answer == f"{pct:.1f}%" and f"{pct:.1f}%" in a.sentence


@pytest.mark.parametrize("unit", ["ha", "km2", "m2", "acre"])
def test_area_in_units(facts: AreaFacts, unit: str) -> None:
    m2 = PIXELS["water"] * PIXEL_M2  # 6,900 m2 = 0.69 ha = 0.0069 km2 = 1.705 acres
    a = execute(Query("area", ["water"], unit=unit), facts)
    assert a.unit == unit and a.value == pytest.approx(m2 / UNIT_FACTORS[unit])
    assert a.answer in a.sentence
    assert a.answer == {"ha": "0.69 ha", "km2": "0.01 km²", "m2": "6,900 m²", "acre": "1.71 acres"}[unit]


def test_share_in_a_region(facts: AreaFacts) -> None:
    # north-east ninth = rows 0-9, cols 20-29: the lake's 60 px of 100.
    a = execute(Query("share", ["water"], region=REGIONS["north-east ninth"]), facts)
    assert a.value == pytest.approx(60.0) and "north-east ninth" in a.sentence
    # eastern half = cols 15-29: all 69 water px of 450.
    assert execute(Query("share", ["water"], region=REGIONS["eastern half"]), facts).value == pytest.approx(
        100 * 69 / 450, abs=0.005)


def test_nodata_is_not_part_of_the_area() -> None:
    m = scene()
    m[:, 0:15] = 255  # west half outside the analysed area: 69 water px of 450 valid
    f = AreaFacts.of_mask(m, UTM_TRANSFORM, UTM_CRS, EARTHVQA_CLASSES)
    assert execute(Query("share", ["water"]), f).value == pytest.approx(100 * 69 / 450, abs=0.005)


def test_share_and_area_on_geographic_crs_match_geodesic_pixels() -> None:
    m = scene()
    f = AreaFacts.of_mask(m, GEO_TRANSFORM, GEO_CRS, EARTHVQA_CLASSES)
    geod = Geod(ellps="WGS84")

    def pixel_m2(r: int, c: int) -> float:
        (x0, y0), (x1, y1) = GEO_TRANSFORM * (c, r), GEO_TRANSFORM * (c + 1, r + 1)
        return abs(geod.polygon_area_perimeter([x0, x1, x1, x0], [y0, y0, y1, y1])[0])

    water = sum(pixel_m2(r, c) for r, c in zip(*np.nonzero(m == WATER)))
    total = sum(pixel_m2(r, c) for r in range(30) for c in range(30))
    area = execute(Query("area", ["water"], unit="m2"), f)
    share = execute(Query("share", ["water"], unit="%"), f)
    assert area.value == pytest.approx(water, rel=0.005)
    assert share.value == pytest.approx(100 * water / total, rel=0.005)
    assert 5000 < water < 8000  # 0.0001 deg pixels at 37.8 N: about 8.8 m x 11.1 m


# ----- count ----------------------------------------------------------------------------------------
def test_count_touching_objects_count_once(facts: AreaFacts) -> None:
    a = execute(Query("count", ["building"]), facts)
    assert a.value == 4 and a.answer == "4" and a.unit == "objects" and "4 buildings" in a.sentence
    assert execute(Query("count", ["water"]), facts).value == 2  # lake and pond


@pytest.mark.parametrize(("region", "n"), [
    ("north-west ninth", 1), ("north ninth", 1), ("centre ninth", 1), ("south-west ninth", 1),
    ("north-east ninth", 0), ("northern half", 2), ("southern half", 2),
    ("western half", 4), ("eastern half", 0),  # C+D's centroid is at col 14.27 of 30: west of the middle
])
def test_count_in_a_region_by_centroid(facts: AreaFacts, region: str, n: int) -> None:
    assert execute(Query("count", ["building"], region=REGIONS[region]), facts).value == n


def test_count_near_a_class_within_next_to(facts: AreaFacts) -> None:
    # next to = max(5 m, 2 pixels) = 20 m: B (10 m from the road) counts, F (30 m) and A, C+D do not.
    assert facts.next_to_m() == pytest.approx(20.0)
    a = execute(Query("count", ["building"], near="road"), facts)
    assert a.value == 1 and "within 20 m" in a.sentence


# ----- presence -------------------------------------------------------------------------------------
def test_presence_present_traces_absent(facts: AreaFacts) -> None:
    assert execute(Query("presence", ["water"]), facts).answer == "yes"
    # one barren pixel (0.11%) is a speck, not an object (objects are at least 4 pixels): no, and it says so
    tiny = execute(Query("presence", ["barren"]), facts)
    assert tiny.answer == "no" and "specks" in tiny.sentence and facts.count("barren") == 0
    # a 4-pixel playground in a 60 x 60 scene is 0.11%, under the 0.2% threshold, but it is an object the
    # statistics count: never "no" beside a figure that counts one
    big = np.full((60, 60), FOREST, np.uint8)
    big[30:32, 30:32] = PLAYGROUND
    f = AreaFacts.of_mask(big, UTM_TRANSFORM, UTM_CRS, EARTHVQA_CLASSES)
    small = execute(Query("presence", ["playground"]), f)
    assert f.count("playground") == 1 and next(c.count for c in f.stats.classes if c.name == "playground") == 1
    assert small.answer == "yes" and "1 playground" in small.sentence and "under 0.2%" in small.sentence
    absent = execute(Query("presence", ["playground"]), facts)
    assert absent.answer == "no" and "specks" not in absent.sentence


# ----- compare and rank -----------------------------------------------------------------------------
def test_compare_by_area(facts: AreaFacts) -> None:
    # forest 96 px > agriculture 72 px
    assert execute(Query("compare", ["forest", "agriculture"], order="more", yes_no=True), facts).answer == "yes"
    assert execute(Query("compare", ["forest", "agriculture"], order="less", yes_no=True), facts).answer == "no"
    assert execute(Query("compare", ["forest", "agriculture"], order="more"), facts).answer == "forest"
    assert execute(Query("compare", ["forest", "agriculture"], order="less"), facts).answer == "farmland"


def test_compare_by_count(facts: AreaFacts) -> None:
    # 4 building objects against 1 road.
    a = execute(Query("compare", ["road", "building"], by="count", order="more", yes_no=True), facts)
    assert a.answer == "no" and "1 road" in a.sentence and "4 buildings" in a.sentence
    # water: 69 px > buildings 30 px by area, but 2 objects < 4 by count.
    assert execute(Query("compare", ["water", "building"], order="more"), facts).answer == "water"
    assert execute(Query("compare", ["water", "building"], by="count", order="more"), facts).answer == "buildings"


def test_rank(facts: AreaFacts) -> None:
    assert execute(Query("rank", order="largest"), facts).answer == "forest"  # 96 px (background is not a class)
    assert execute(Query("rank", order="smallest"), facts).answer == "barren land"  # 1 px
    assert execute(Query("rank", by="count", order="largest"), facts).answer == "buildings"  # 4 objects
    north_east = execute(Query("rank", order="largest", region=REGIONS["north-east ninth"]), facts)
    assert north_east.answer == "water"


# ----- where and adjacency --------------------------------------------------------------------------
def test_where_centroid_cell(facts: AreaFacts) -> None:
    # water centroid: col (60*27 + 9*26.5)/69 = 26.9, row (60*5 + 9*26.5)/69 = 7.8 of 30 -> north-east
    assert execute(Query("where", ["water"]), facts).answer == "north-east"
    # buildings: col 9.63 (x 0.32 of the width), row 8.63 (0.29 of the height) -> north-west
    assert execute(Query("where", ["building"]), facts).answer == "north-west"


def test_where_largest_object(facts: AreaFacts) -> None:
    a = execute(Query("where", ["building"], order="largest"), facts)  # C+D, 13 px, centroid in the north ninth
    assert a.answer == "north" and "1,300 m²" in a.sentence
    assert execute(Query("where", ["water"], order="largest"), facts).answer == "north-east"  # the lake


@pytest.mark.parametrize(("a", "b", "metres", "next_to", "near"), [
    ("building", "road", 10.0, "yes", "yes"),  # B touches the road: pixel centres 10 m apart
    ("forest", "road", 20.0, "yes", "yes"),  # rows 20 -> 22: exactly the 20 m of "next to"
    ("agriculture", "building", 10 * math.sqrt(5), "no", "yes"),  # (17, 8) -> (18, 10)
    ("water", "road", 10 * math.sqrt(29), "no", "yes"),  # pond (25, 25) -> road end (20, 23)
    ("water", "agriculture", 10 * math.hypot(10 - 9, 24 - 8), "no", "no"),  # lake (9, 24) -> (10, 8): 160 m
])
def test_adjacent_next_to_and_near(facts: AreaFacts, a: str, b: str, metres: float, next_to: str, near: str) -> None:
    assert facts.next_to_m() == pytest.approx(20.0) and facts.near_m() == pytest.approx(100.0)
    assert facts.class_distance(a, b) == pytest.approx(metres, abs=0.01)
    assert execute(Query("adjacent", [a, b], distance="next_to"), facts).answer == next_to
    assert execute(Query("adjacent", [a, b], distance="near"), facts).answer == near


def test_adjacent_to_an_absent_class_is_no(facts: AreaFacts) -> None:
    a = execute(Query("adjacent", ["playground", "road"], distance="near"), facts)
    assert a.answer == "no" and "no playgrounds" in a.sentence


# ----- urban, land use, water types -----------------------------------------------------------------
def _block_mask(pixels: dict[int, int], size: int = 10) -> AreaFacts:
    """A size x size mask with the given pixel counts per class index, filled row by row, rest background."""
    flat = np.zeros(size * size, np.uint8)
    i = 0
    for cls, n in pixels.items():
        flat[i:i + n] = cls
        i += n
    return AreaFacts.of_mask(flat.reshape(size, size), UTM_TRANSFORM, UTM_CRS, EARTHVQA_CLASSES)


def test_urban_from_20_percent(facts: AreaFacts) -> None:
    assert execute(Query("urban"), facts).answer == "rural"  # (30 + 24) / 900 = 6%
    assert execute(Query("urban"), _block_mask({BUILDING: 12, ROAD: 8})).answer == "urban"  # 20%
    assert execute(Query("urban"), _block_mask({BUILDING: 12, ROAD: 7})).answer == "rural"  # 19%


def test_is_it_urban_is_answered_yes_or_no_and_picks_that_choice(facts: AreaFacts) -> None:
    from core.query.parse import parse_question

    q = parse_question("Is it urban?", facts.classes)
    assert q == Query("urban", yes_no=True, order="urban")
    assert execute(q, facts).answer == "no" and "Rural" in execute(q, facts).sentence  # 6% built
    assert execute(q, facts, ["yes", "no"]).answer == "no"
    rural = parse_question("is this area rural", facts.classes)
    assert execute(rural, facts).answer == "yes"
    either = parse_question("Is it urban or rural?", facts.classes)
    assert not either.yes_no and execute(either, facts).answer == "rural"


def test_land_use_from_10_percent(facts: AreaFacts) -> None:
    assert execute(Query("land_use"), facts).answer == "forest"  # 10.7%; farmland 8.0%, water 7.7%
    a = execute(Query("land_use"), _block_mask({FOREST: 10, AGRI: 9, WATER: 40}))
    assert a.answer == "water and forest"  # 40%, 10%; farmland 9% is not a main type


def test_water_types() -> None:
    # 120 x 120 at 10 m: a sea (1.08 km2 at the east edge), a river (1 px x 100 px), a lake (10 x 10 px),
    # a pond (3 x 3 px), and a 1 px speck that is no water body at all.
    m = np.zeros((120, 120), np.uint8)
    m[:, 30:] = WATER
    m[10:110, 5] = WATER
    m[10:20, 10:20] = WATER
    m[40:43, 12:15] = WATER
    m[60, 20] = WATER
    f = AreaFacts.of_mask(m, UTM_TRANSFORM, UTM_CRS, EARTHVQA_CLASSES)
    assert execute(Query("water_types"), f).answer == "river, lake, pond and sea"
    assert execute(Query("water_types"), _block_mask({FOREST: 50})).answer == "none"


def test_water_types_of_the_scene(facts: AreaFacts) -> None:
    assert execute(Query("water_types"), facts).answer == "lake and pond"  # 6,000 m2 lake, 900 m2 pond


# ----- multiple choice ------------------------------------------------------------------------------
BINS = ["0%-10%", "10%-20%", "20%-30%", "30%-40%", "40%-50%"]


@pytest.mark.parametrize(("cls", "bin_"), [("water", "0%-10%"), ("forest", "10%-20%")])
def test_choice_bin_contains_the_share(facts: AreaFacts, cls: str, bin_: str) -> None:
    a = execute(Query("share", [cls], unit="%"), facts, BINS)
    assert a.answer == bin_ and a.choice == BINS.index(bin_) and "nearest" not in a.sentence


def test_choice_equal_count(facts: AreaFacts) -> None:
    a = execute(Query("count", ["building"]), facts, ["2", "3", "4", "5"])
    assert a.answer == "4" and a.choice == 2


def test_choice_yes_no_and_position(facts: AreaFacts) -> None:
    assert execute(Query("presence", ["water"]), facts, ["Yes", "No"]).choice == 0
    assert execute(Query("presence", ["playground"]), facts, ["Yes", "No"]).choice == 1
    a = execute(Query("where", ["water"]), facts, ["North-west", "Northeast", "South"])
    assert a.choice == 1 and a.answer == "Northeast"


def test_choice_class_names_by_synonym(facts: AreaFacts) -> None:
    # agriculture 72 px > water 69 px: the answer is the "farmland" choice
    a = execute(Query("compare", ["agriculture", "water"], order="more"), facts, ["Water", "Farmland"])
    assert a.choice == 1
    assert execute(Query("rank", order="largest"), facts, ["Water", "Trees", "Farmland"]).choice == 1  # forest


def test_choice_nearest_when_none_contains_the_value(facts: AreaFacts) -> None:
    a = execute(Query("share", ["water"], unit="%"), facts, ["20%-30%", "40%-50%"])  # 7.7%
    assert a.choice == 0 and "nearest" in a.sentence and "7.7%" in a.sentence
    c = execute(Query("count", ["building"]), facts, ["1", "2", "7"])  # 4: 2 is 2 away, 1 and 7 are 3
    assert c.choice == 1 and "nearest" in c.sentence


def test_no_numeric_choice_says_none_matches(facts: AreaFacts) -> None:
    a = execute(Query("share", ["water"], unit="%"), facts, ["lots", "little"])
    assert a.choice is None and "None of the choices" in a.sentence


def test_every_answer_says_how_it_was_measured(facts: AreaFacts) -> None:
    queries = [Query("share", ["water"]), Query("area", ["forest"]), Query("count", ["road"]),
               Query("presence", ["barren"]), Query("compare", ["forest", "water"]), Query("rank"),
               Query("where", ["road"]), Query("adjacent", ["road", "water"]), Query("urban"), Query("land_use"),
               Query("water_types")]
    for q in queries:
        a = execute(q, facts)
        assert a.answer and a.sentence and a.how, q
        assert "measured from the land-cover map" in a.sentence, q
