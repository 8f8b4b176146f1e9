"""Discovery of a batch's inputs (folder, text file of paths, local STAC) and their work items (grid cells)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from core.batch.items import Source, WorkItem, item_id, source_digest
from core.errors import InputError

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".img", ".gtiff")
STAC_MEDIA = ("image/tiff", "image/jp2", "image/vnd.stac.geotiff", "application/x-vrt")
Memo = Optional[dict[tuple[str, int, int], str]]


def discover(inputs: str, pairs: bool = False, asset: Optional[str] = None) -> list[Source]:
    """The sources named by ``inputs``, in a stable order.

    Args:
        inputs: a folder (every raster under it, recursively, by suffix), a ``.json`` STAC catalog, collection,
            item or item collection (one raster asset per item), or a text file with one path per line (``#``
            starts a comment; relative paths are relative to the file's folder).
        pairs: ``change``: each line of the text file names two rasters, before and after (a folder or STAC
            input is refused).
        asset: the STAC asset key to use (default: ``visual``, else the first raster asset with role data).

    Raises:
        InputError: ``inputs`` is missing, names nothing, or a line of the text file is malformed.
    """
    path = Path(inputs).expanduser()
    if not path.exists():
        raise InputError(f"Batch inputs not found: {inputs}.")
    if pairs and (path.is_dir() or path.suffix.lower() == ".json"):
        raise InputError("change needs a text file of pairs: one 'BEFORE AFTER' (two paths) per line.")
    if path.is_dir():
        found = [Source(str(p.resolve())) for p in sorted(path.rglob("*"))
                 if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES and not _hidden(p, path)]
    elif path.suffix.lower() == ".json":
        found = list(stac_sources(str(path), asset))
    else:
        found = list(_text_sources(path, pairs))
    if not found:
        raise InputError(f"No rasters found in {inputs}.")
    return found


def _hidden(p: Path, root: Path) -> bool:
    """A file under a hidden folder (``.batch``, ``.git``) or hidden itself."""
    return any(part.startswith(".") for part in p.relative_to(root).parts)


def _text_sources(path: Path, pairs: bool) -> Iterator[Source]:
    base = path.resolve().parent
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"Cannot read the list of rasters {path}: {e}.") from e
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        if len(parts) != (2 if pairs else 1):
            want = "two paths (before after)" if pairs else "one path"
            raise InputError(f"{path}, line {number}: expected {want}, got {len(parts)}.")
        full = [p if p.startswith("/vsi") else str((base / p).resolve()) for p in parts]
        yield Source(full[0], full[1] if pairs else None)


def stac_sources(path: str, asset: Optional[str] = None) -> Iterator[Source]:
    """One source per STAC item of a local catalog, collection, item or item collection."""
    import pystac

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"Cannot read the STAC file {path}: {e}.") from e
    kind = data.get("type") if isinstance(data, dict) else None
    try:
        if kind == "FeatureCollection":
            items: Any = pystac.ItemCollection.from_file(path)
        elif kind == "Feature":
            items = [pystac.Item.from_file(path)]
        else:
            items = pystac.read_file(path).get_items(recursive=True)
    except Exception as e:  # pystac raises many kinds on a malformed document
        raise InputError(f"Not a STAC catalog, collection or item: {path} ({e}).") from e
    for item in items:
        href = _raster_asset(item, asset)
        if href is None:
            continue
        if not href.startswith("/vsi") and "://" not in href:
            href = os.path.abspath(href)
        yield Source(href, stac_id=item.id)


def _raster_asset(item: Any, key: Optional[str]) -> Optional[str]:
    """The absolute href of the item's raster asset: ``key``, else ``visual``, else the first data raster."""
    assets = item.get_assets()
    if key is not None:
        return assets[key].get_absolute_href() if key in assets else None
    if "visual" in assets:
        return assets["visual"].get_absolute_href()
    for a in assets.values():
        media = (a.media_type or "").split(";")[0].strip()
        is_raster = media in STAC_MEDIA or a.href.lower().endswith(RASTER_SUFFIXES)
        if is_raster and (not a.roles or "data" in a.roles):
            return a.get_absolute_href()
    return None


def grid_windows(width: int, height: int, grid: Optional[int]) -> list[tuple[int, int, int, int]]:
    """Cells of ``grid`` x ``grid`` pixels covering a ``width`` x ``height`` raster, row by row.

    Cell (r, c) is ``(c * grid, r * grid, min(grid, width - c * grid), min(grid, height - r * grid))``:
    ``ceil(height / grid) * ceil(width / grid)`` cells; the last row and column are narrower. No grid, or a
    raster no larger than one cell, is one window over everything.
    """
    if not grid or (width <= grid and height <= grid):
        return [(0, 0, width, height)]
    return [(c * grid, r * grid, min(grid, width - c * grid), min(grid, height - r * grid))
            for r in range(math.ceil(height / grid)) for c in range(math.ceil(width / grid))]


def footprints(transform: tuple[float, ...], crs: str, window: tuple[int, int, int, int]) -> tuple[str, str]:
    """The window's outline as WKT in the raster CRS and in EPSG:4326 ("" without a CRS).

    Edges are densified (16 points a side) before reprojection, so curved edges in lon/lat stay close.
    """
    import shapely
    from affine import Affine

    a = Affine(*transform[:6])
    c0, r0, w, h = window
    ring = [a * (c0, r0), a * (c0 + w, r0), a * (c0 + w, r0 + h), a * (c0, r0 + h)]
    native = shapely.Polygon(ring)
    if not crs:
        return native.wkt, ""
    from rasterio.warp import transform_geom

    dense = shapely.segmentize(native, max(native.length / 64, 1e-9))
    wgs84 = shapely.geometry.shape(transform_geom(crs, "EPSG:4326", shapely.geometry.mapping(dense)))
    return native.wkt, shapely.make_valid(wgs84).wkt


def work_items(src: Source, grid: Optional[int] = None, memo: Memo = None) -> list[WorkItem]:
    """The work items of one source: the whole raster, or its grid cells; each with digest and footprints.

    Raises:
        InputError: the raster (or the pair's first raster) cannot be read.
    """
    from core.raster import open_raster

    info = open_raster(src.path)  # checks the file is a readable raster
    if src.after is not None:
        open_raster(src.after)
    digest, size, mtime = source_digest(src, memo)
    axis_aligned = info.transform[1] == 0 and info.transform[3] == 0
    items = []
    for window in grid_windows(info.width, info.height, grid):
        whole = window == (0, 0, info.width, info.height)
        native, wgs84 = footprints(info.transform, info.crs, window)
        cell = "" if whole else f"{window[1] // grid},{window[0] // grid}"  # type: ignore[operator]
        aoi = None if whole else (_bounds(native) if axis_aligned else native)
        notes = [] if info.crs else ["the raster has no CRS: no EPSG:4326 footprint"]
        items.append(WorkItem(
            item_id(src.path, src.after, cell), src.path, digest, size, mtime, window=None if whole else window,
            cell=cell, aoi=aoi, crs=info.crs, footprint_native=native, footprint_wgs84=wgs84,
            tiles_hint=window[2] * window[3], after=src.after, stac_id=src.stac_id, notes=notes,
        ))  # fmt: skip
    return items


def _bounds(wkt: str) -> list[float]:
    import shapely

    return [float(v) for v in shapely.from_wkt(wkt).bounds]
