"""Outlines of selected objects as polygons in the raster CRS, their boxes, and a GeoPackage of them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Optional, Union

import numpy as np

from core.geo import pixel_box_to_crs, pixel_size, write_gpkg_atomically
from core.landcover.grid import ClassObjects, Component, MaskGrid, object_pixels
from core.results import Box, FoundObject

OBJECTS_LAYER = "objects"
ORIENTED_LAYER = "oriented_boxes"
SCORE = 1.0  # objects come from the hard (argmax) mask: no class probability is kept to score them by


def outline(found: ClassObjects, obj: Component, grid: MaskGrid, tolerance_px: float = 1.0) -> Any:
    """The object's outline in the mask's CRS: a valid shapely Polygon or MultiPolygon, holes kept.

    Pixel edges are traced (rasterio.features.shapes, 8-connectivity) over the object's box only,
    made valid, and simplified by ``tolerance_px`` pixels with the topology preserved.
    """
    import shapely
    from affine import Affine
    from rasterio import features
    from shapely.geometry import shape

    c1, r1, _, _ = obj.box
    own = object_pixels(found, obj)
    transform = Affine(*grid.transform) * Affine.translation(c1, r1)
    parts = [shape(g) for g, _ in features.shapes(own.astype(np.uint8), mask=own, transform=transform,
                                                  connectivity=8)]
    geom = shapely.make_valid(shapely.union_all(parts))
    geom = shapely.simplify(geom, tolerance_px * pixel_size(grid.transform), preserve_topology=True)
    return _polygonal(shapely.make_valid(geom))


def _polygonal(geom: Any) -> Any:
    """Only the polygon parts of a geometry (make_valid can add stray lines or points), as one geometry."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    polys = [g for g in shapely.get_parts(geom) if isinstance(g, (Polygon, MultiPolygon))]
    return shapely.union_all(polys) if polys else Polygon()


def oriented_box(geom: Any) -> list[tuple[float, float]]:
    """Corners of the minimum rotated rectangle of a geometry, as a closed ring [(x, y), ...]."""
    import shapely

    rect = shapely.minimum_rotated_rectangle(geom)
    ring = rect.exterior if hasattr(rect, "exterior") else rect
    return [(float(x), float(y)) for x, y in ring.coords]


def to_found_object(found: ClassObjects, obj: Component, grid: MaskGrid, rule: str) -> FoundObject:
    """A :class:`FoundObject` of one component: outline, horizontal box (its pixels' envelope), oriented box."""
    geom = outline(found, obj, grid)
    x1, y1, x2, y2 = pixel_box_to_crs(obj.box, grid.transform)
    box = Box(x1, y1, x2, y2, label=obj.label, score=SCORE)
    return FoundObject(obj.label, obj.area_m2, SCORE, rule, geom.wkt, box, oriented_box(geom), obj.position)


def _crs_text(crs: Any) -> Optional[str]:
    if crs is None or crs == "":
        return None
    if isinstance(crs, str):
        return crs
    return crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs)


def write_objects_gpkg(path: Union[str, os.PathLike], objects: Sequence[FoundObject], crs: Any, prompt: str = "",
                       source: str = "", model: str = "", oriented: bool = False,
                       created: Optional[datetime] = None) -> str:
    """Write found objects as a GeoPackage in ``crs`` (the raster's); returns the path.

    Layer ``objects``: the outlines (MultiPolygon); with ``oriented``, layer ``oriented_boxes``: the
    minimum rotated rectangles. Attributes of both: label, area_m2, score, rule, position, prompt,
    source (raster path), model, created (ISO-8601 UTC). The file is written under a temporary name and
    renamed, so a reader never sees a half-written file; an existing file at ``path`` is replaced whole.
    """
    import shapely
    from pyogrio.raw import write
    from shapely.geometry import MultiPolygon, Polygon

    path = os.fspath(path)
    stamp = (created or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    n = len(objects)
    fields = ["label", "area_m2", "score", "rule", "position", "prompt", "source", "model", "created"]
    data = [
        np.array([o.label for o in objects], dtype=object),
        np.array([o.area_m2 for o in objects], dtype=np.float64),
        np.array([o.score for o in objects], dtype=np.float64),
        np.array([o.rule for o in objects], dtype=object),
        np.array([o.position for o in objects], dtype=object),
        np.array([prompt] * n, dtype=object),
        np.array([source] * n, dtype=object),
        np.array([model] * n, dtype=object),
        np.array([stamp] * n, dtype=object),
    ]
    shapes = [shapely.from_wkt(o.polygon_wkt) for o in objects]
    multi = [g if isinstance(g, MultiPolygon) else MultiPolygon([g]) if not g.is_empty else MultiPolygon()
             for g in shapes]
    layers = [(OBJECTS_LAYER, "MultiPolygon", multi)]
    if oriented:
        layers.append((ORIENTED_LAYER, "Polygon", [Polygon(o.oriented_box) for o in objects]))
    def write_layers(tmp: str) -> None:
        for layer, kind, geoms in layers:
            wkb = np.array(shapely.to_wkb(geoms), dtype=object) if geoms else np.array([], dtype=object)
            write(tmp, wkb, data, fields, layer=layer, driver="GPKG", geometry_type=kind, crs=_crs_text(crs))

    return write_gpkg_atomically(path, write_layers)


def read_objects_gpkg(path: Union[str, os.PathLike], layer: str = OBJECTS_LAYER) -> tuple[list[Any], list[dict], str]:
    """Read a layer written by :func:`write_objects_gpkg`: (shapely geometries, attribute dicts, CRS)."""
    import shapely
    from pyogrio.raw import read

    meta, _, geometry, field_data = read(os.fspath(path), layer=layer)
    names = list(meta["fields"])
    rows = [{name: field_data[k][i] for k, name in enumerate(names)} for i in range(len(geometry))]
    geoms = list(shapely.from_wkb(geometry)) if len(geometry) else []
    return geoms, rows, meta["crs"] or ""
