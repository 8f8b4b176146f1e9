"""Areas of interest: a bbox or WKT polygon in any CRS -> a pixel window of the scene (+ polygon mask)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np
import shapely
import shapely.geometry
import shapely.wkt
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom

from core.errors import InputError
from core.raster import RasterInfo
from core.tiling import PixelWindow

CrsLike = Union[str, int, None]
_USAGE = "use 'xmin,ymin,xmax,ymax[@EPSG:4326]' or 'POLYGON((x y, ...))[@EPSG:code]'"


@dataclass
class AOI:
    """An area of interest before it is placed on a raster."""

    geometry: dict[str, Any]  # GeoJSON-like Polygon or MultiPolygon
    crs: Optional[str] = None  # "EPSG:4326", WKT...; None means the raster's CRS
    is_box: bool = False  # an axis-aligned bbox (no mask needed in its own CRS)


@dataclass
class AOIWindow:
    """An area of interest placed on a raster."""

    window: PixelWindow  # clipped to the scene
    bounds: tuple[float, float, float, float]  # of the window, (xmin, ymin, xmax, ymax) in the raster CRS
    mask: Optional[np.ndarray] = None  # bool [h, w]: True inside the polygon; None when the box is the window


def normalise_crs(crs: CrsLike) -> Optional[str]:
    """``4326``, ``"4326"``, ``"epsg:4326"`` -> ``"EPSG:4326"``; WKT kept; None -> None.

    Raises:
        InputError: not a CRS that PROJ knows.
    """
    if crs is None or (isinstance(crs, str) and not crs.strip()):
        return None
    text = str(crs).strip()
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        parsed = CRS.from_user_input(text)
    except (CRSError, ValueError) as e:
        raise InputError(f"Unknown coordinate reference system '{crs}'.") from e
    epsg = parsed.to_epsg()
    return f"EPSG:{epsg}" if epsg else parsed.to_wkt()


def aoi_from_bbox(bbox: Sequence[float], crs: CrsLike = None) -> AOI:
    """An AOI from ``[xmin, ymin, xmax, ymax]`` (x = easting or longitude).

    Raises:
        InputError: not four finite numbers with xmin < xmax and ymin < ymax.
    """
    if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox):
        raise InputError(f"A bounding box needs four numbers xmin,ymin,xmax,ymax; got {list(bbox)}.")
    xmin, ymin, xmax, ymax = (float(v) for v in bbox)
    crs = normalise_crs(crs)
    if xmin > xmax and ymin < ymax and _crosses_antimeridian(xmin, xmax, crs):
        parts = [shapely.geometry.box(xmin, ymin, 180.0, ymax), shapely.geometry.box(-180.0, ymin, xmax, ymax)]
        return AOI(shapely.geometry.mapping(shapely.geometry.MultiPolygon(parts)), crs)
    if xmin >= xmax or ymin >= ymax:
        raise InputError(f"The bounding box {list(bbox)} is empty: it needs xmin < xmax and ymin < ymax.")
    geom = shapely.geometry.mapping(shapely.geometry.box(xmin, ymin, xmax, ymax))
    return AOI(geom, crs, is_box=True)


def _crosses_antimeridian(xmin: float, xmax: float, crs: Optional[str]) -> bool:
    """A lon/lat box whose west edge is east of its east edge (170,..,-170,..) goes across 180°."""
    return crs is not None and CRS.from_user_input(crs).is_geographic and -180 <= xmax < xmin <= 180


def aoi_from_wkt(wkt: str, crs: CrsLike = None) -> AOI:
    """An AOI from a WKT Polygon or MultiPolygon.

    Raises:
        InputError: invalid WKT, not a polygon, or an empty polygon.
    """
    try:
        geom = shapely.wkt.loads(wkt)
    except Exception as e:  # shapely raises GEOSException or ValueError
        raise InputError(f"Invalid WKT for the area of interest: {wkt[:60]}.") from e
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty or geom.area <= 0:
        raise InputError(f"The area of interest must be a non-empty polygon, got {geom.geom_type}.")
    return AOI(shapely.geometry.mapping(geom), normalise_crs(crs))


def parse_aoi(text: str) -> AOI:
    """Parse a CLI string ``"xmin,ymin,xmax,ymax[@EPSG:4326]"`` or ``"POLYGON((...))[@EPSG:code]"``.

    Without ``@crs`` the coordinates are in the raster's CRS. Geographic coordinates are lon, lat.

    Raises:
        InputError: the text is neither form.
    """
    body, _, crs = text.strip().partition("@")
    body = body.strip()
    if body.upper().startswith(("POLYGON", "MULTIPOLYGON")):
        return aoi_from_wkt(body, crs or None)
    try:
        values = [float(v) for v in body.split(",")]
    except ValueError as e:
        raise InputError(f"Cannot read the area of interest '{text}'; {_USAGE}.") from e
    if len(values) != 4:
        raise InputError(f"Cannot read the area of interest '{text}'; {_USAGE}.")
    return aoi_from_bbox(values, crs or None)


def _as_aoi(aoi: Union[AOI, str, Sequence[float]], crs: CrsLike) -> AOI:
    if isinstance(aoi, AOI):
        return aoi
    if isinstance(aoi, str):
        parsed = parse_aoi(aoi)
        return parsed if crs is None or parsed.crs else AOI(parsed.geometry, normalise_crs(crs), parsed.is_box)
    return aoi_from_bbox(aoi, crs)


def _to_raster_crs(aoi: AOI, info: RasterInfo) -> dict[str, Any]:
    """The AOI geometry in the raster CRS, densified so that curved edges stay close."""
    if aoi.crs is None or (info.crs and CRS.from_user_input(aoi.crs) == CRS.from_user_input(info.crs)):
        return aoi.geometry
    if not info.crs:
        raise InputError(f"The raster has no CRS, so an area of interest in {aoi.crs} cannot be placed on it.")
    shape = shapely.geometry.shape(aoi.geometry)
    xmin, ymin, xmax, ymax = shape.bounds
    dense = shapely.segmentize(shape, max(xmax - xmin, ymax - ymin) / 64)
    try:
        return transform_geom(aoi.crs, info.crs, shapely.geometry.mapping(dense))
    except Exception as e:  # PROJ errors for points outside a projection's domain
        raise InputError(f"The area of interest cannot be reprojected to {info.crs}.") from e


def resolve_aoi(
    info: RasterInfo, aoi: Union[AOI, str, Sequence[float]], crs: CrsLike = None, with_mask: bool = True
) -> AOIWindow:
    """Place an area of interest on a raster as a pixel window clipped to the scene.

    Args:
        info: the raster (see :func:`core.raster.open_raster`).
        aoi: an :class:`AOI`, a CLI string (see :func:`parse_aoi`) or ``[xmin, ymin, xmax, ymax]``.
        crs: CRS of ``aoi`` when it does not carry one (EPSG code or string); default the raster's.
        with_mask: also rasterise the polygon over the window (skipped for a box in the raster CRS).

    Returns:
        An :class:`AOIWindow` with the window, its bounds in the raster CRS and the optional mask.

    Raises:
        InputError: the AOI lies outside the scene, or cannot be read or reprojected.
    """
    area = _as_aoi(aoi, crs)
    geom = _to_raster_crs(area, info)
    affine = Affine(*info.transform)
    xy = np.array(list(shapely.get_coordinates(shapely.geometry.shape(geom))))  # [N, 2]
    cols, rows = ~affine * (xy[:, 0], xy[:, 1])
    c0, c1 = max(0, math.floor(np.min(cols) + 1e-6)), min(info.width, math.ceil(np.max(cols) - 1e-6))
    r0, r1 = max(0, math.floor(np.min(rows) + 1e-6)), min(info.height, math.ceil(np.max(rows) - 1e-6))
    if c1 <= c0 or r1 <= r0:
        raise InputError("The area of interest lies outside the raster.")
    window = PixelWindow(c0, r0, c1 - c0, r1 - r0)
    wt = affine * Affine.translation(c0, r0)
    xs, ys = wt * (np.array([0, window.width, window.width, 0]), np.array([0, 0, window.height, window.height]))
    bounds = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
    mask = None
    same_crs = area.crs is None or geom is area.geometry
    if with_mask and not (area.is_box and same_crs and affine.b == 0 and affine.d == 0):
        shape = (window.height, window.width)
        mask = geometry_mask([geom], out_shape=shape, transform=wt, invert=True)
        if not mask.any():
            mask = geometry_mask([geom], out_shape=shape, transform=wt, invert=True, all_touched=True)
        if not mask.any():
            raise InputError("The area of interest does not cover any pixel of the raster.")
    return AOIWindow(window, bounds, mask)
