"""Change polygons: the connected patches of each reported from-to pair, outlined, written as a GeoPackage."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Optional, Union

import numpy as np

from core.change.mask import NOISE, UNCHANGED
from core.landcover.grid import MaskGrid, find_objects

PathLike = Union[str, "os.PathLike[str]"]
LAYER = "change"
MAX_POLYGONS = 5000  # the largest patches are written; the rest are counted in the result's notes


@dataclass
class ChangePatch:
    """One connected patch (8-connectivity) of a from-to change."""

    from_class: str
    to_class: str
    area_m2: float
    position: str  # 3x3 position word within the compared area
    polygon_wkt: str

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.from_class, "to": self.to_class, "area_m2": round(self.area_m2, 2),
                "position": self.position}


def change_patches(grid: MaskGrid, legend: dict[int, str], min_area_m2: Optional[float] = None,
                   limit: int = MAX_POLYGONS) -> tuple[list[ChangePatch], int]:
    """The patches of every reported pair in a change mask grid, largest first, and how many were left out."""
    from core.instances.polygons import outline

    names = [""] * 256
    for code, name in legend.items():
        if code not in (UNCHANGED, NOISE) and " -> " in name:
            names[code] = name
    patches: list[tuple[float, ChangePatch]] = []
    for code in np.unique(grid.mask):
        name = names[int(code)]
        if not name:
            continue
        found = find_objects(grid, names, name, min_area_m2)
        src, dst = name.split(" -> ")
        for obj in found.objects:
            patches.append((obj.area_m2, ChangePatch(src, dst, obj.area_m2, obj.position, "")))
            patches[-1][1].polygon_wkt = outline(found, obj, grid).wkt
    patches.sort(key=lambda p: -p[0])
    kept = [p for _, p in patches[:limit]]
    return kept, max(0, len(patches) - limit)


def write_change_gpkg(path: PathLike, patches: list[ChangePatch], crs: Any, before: str = "", after: str = "",
                      model: str = "", created: Optional[datetime] = None) -> str:
    """Write the patches as layer ``change`` (MultiPolygon) with from_class, to_class, area_m2, area_ha,
    position, before, after, model and created (ISO-8601 UTC); atomically, in the compared grid's CRS."""
    import shapely
    from pyogrio.raw import write
    from shapely.geometry import MultiPolygon

    from core.geo import write_gpkg_atomically
    from core.instances.polygons import _crs_text

    stamp = (created or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    n = len(patches)
    fields = ["from_class", "to_class", "area_m2", "area_ha", "position", "before", "after", "model", "created"]
    data = [
        np.array([p.from_class for p in patches], dtype=object),
        np.array([p.to_class for p in patches], dtype=object),
        np.array([p.area_m2 for p in patches], dtype=np.float64),
        np.array([p.area_m2 / 1e4 for p in patches], dtype=np.float64),
        np.array([p.position for p in patches], dtype=object),
        np.array([before] * n, dtype=object),
        np.array([after] * n, dtype=object),
        np.array([model] * n, dtype=object),
        np.array([stamp] * n, dtype=object),
    ]
    geoms = [shapely.from_wkt(p.polygon_wkt) for p in patches]
    multi = [g if isinstance(g, MultiPolygon) else MultiPolygon([g]) if not g.is_empty else MultiPolygon()
             for g in geoms]

    def write_layer(tmp: str) -> None:
        wkb = np.array(shapely.to_wkb(multi), dtype=object) if multi else np.array([], dtype=object)
        write(tmp, wkb, data, fields, layer=LAYER, driver="GPKG", geometry_type="MultiPolygon", crs=_crs_text(crs))

    return write_gpkg_atomically(os.fspath(path), write_layer)
