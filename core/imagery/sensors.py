"""The sensors EarthAsk knows: for each band stack they come in, which 1-based bands are red, green and blue."""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Sensor:
    """A sensor's band stacks: band count -> (red, green, blue, what the bands are)."""

    name: str
    title: str
    stacks: dict[int, tuple[RGB, str]]

    def rgb(self, count: int) -> RGB:
        """The red, green, blue bands of a ``count``-band stack (KeyError when the sensor has no such stack)."""
        return self.stacks[count][0]


SENSORS: dict[str, Sensor] = {s.name: s for s in [
    Sensor("sentinel2", "Sentinel-2 MSI", {
        13: ((4, 3, 2), "L1C B1 B2 B3 B4 B5 B6 B7 B8 B8A B9 B10 B11 B12"),
        12: ((4, 3, 2), "L2A B1 B2 B3 B4 B5 B6 B7 B8 B8A B9 B11 B12"),
        4: ((3, 2, 1), "B2 B3 B4 B8 (10 m bands)")}),
    Sensor("landsat5", "Landsat 4/5 TM", {
        6: ((3, 2, 1), "B1 B2 B3 B4 B5 B7"), 7: ((3, 2, 1), "B1 B2 B3 B4 B5 B6 B7")}),
    Sensor("landsat7", "Landsat 7 ETM+", {
        6: ((3, 2, 1), "B1 B2 B3 B4 B5 B7"), 7: ((3, 2, 1), "B1 B2 B3 B4 B5 B6 B7"),
        8: ((3, 2, 1), "B1 B2 B3 B4 B5 B6 B7 B8")}),
    Sensor("landsat8", "Landsat 8/9 OLI", {
        11: ((4, 3, 2), "B1 ... B11"), 7: ((4, 3, 2), "B1 B2 B3 B4 B5 B6 B7 (surface reflectance)"),
        8: ((4, 3, 2), "B1 B2 B3 B4 B5 B6 B7 B9")}),
    Sensor("naip", "NAIP and other red, green, blue, NIR", {4: ((1, 2, 3), "R G B NIR"), 3: ((1, 2, 3), "R G B")}),
    Sensor("worldview", "WorldView-2/3", {
        8: ((5, 3, 2), "coastal blue green yellow red red-edge NIR1 NIR2"), 4: ((3, 2, 1), "B G R NIR")}),
    Sensor("planetscope", "PlanetScope", {
        4: ((3, 2, 1), "B G R NIR"), 8: ((6, 4, 2), "coastal blue, blue, green I, green, yellow, red, red-edge, NIR"),
        3: ((3, 2, 1), "B G R")}),
    Sensor("rgb", "red, green, blue (and more)", {3: ((1, 2, 3), "R G B"), 4: ((1, 2, 3), "R G B NIR")}),
    Sensor("bgr", "blue, green, red (and more)", {3: ((3, 2, 1), "B G R"), 4: ((3, 2, 1), "B G R NIR")}),
    Sensor("grey", "one band", {1: ((1, 1, 1), "grey")}),
]}
ALIASES = {
    "s2": "sentinel2", "sentinel-2": "sentinel2", "sentinel2_l2a": "sentinel2", "sentinel2_l1c": "sentinel2",
    "landsat4": "landsat5", "tm": "landsat5", "etm": "landsat7", "etm+": "landsat7", "landsat9": "landsat8",
    "oli": "landsat8", "rgbn": "naip", "bgrn": "planetscope", "worldview8": "worldview", "wv": "worldview",
    "planet": "planetscope", "gray": "grey", "mono": "grey",
}


def sensor_named(name: str) -> Sensor:
    """The sensor called ``name`` (any case; aliases such as 'landsat9', 's2', 'bgrn').

    Raises:
        ValueError: an unknown name, with the known ones.
    """
    key = name.strip().lower().replace(" ", "")
    key = ALIASES.get(key, key)
    if key not in SENSORS:
        raise ValueError(f"Unknown sensor '{name}'; choose one of {', '.join(SENSORS)}.")
    return SENSORS[key]
