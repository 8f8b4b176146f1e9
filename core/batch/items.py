"""Work items (a raster, a grid cell of one, or a before/after pair) and their content digests."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

CHUNK = 1 << 20  # bytes read per step when hashing


@dataclass(frozen=True)
class Source:
    """One input found by discovery: a raster (or a before/after pair for ``change``), before it is opened."""

    path: str  # absolute path (or GDAL URI) of the raster; the first date for change
    after: Optional[str] = None  # the second date, for change
    stac_id: Optional[str] = None  # the STAC item it came from


@dataclass
class WorkItem:
    """What one model call processes: a whole raster or one grid cell of it, with where it lies."""

    item_id: str  # stable over reruns: from the path (and the after path) and the cell
    path: str
    digest: str  # sha256 of the file's bytes (both files' for change)
    size: int  # bytes (both files' for change)
    mtime_ns: int  # the newest of the files' modification times
    window: Optional[tuple[int, int, int, int]] = None  # (col_off, row_off, width, height) of a cell; None: all
    cell: str = ""  # "row,col" of the cell in the grid; "" for a whole raster
    aoi: Any = None  # what the engine gets: [xmin, ymin, xmax, ymax] or WKT in the raster CRS; None: all
    crs: str = ""  # the raster's CRS ("" when it has none)
    footprint_native: str = ""  # WKT polygon of the item in ``crs``
    footprint_wgs84: str = ""  # WKT polygon in EPSG:4326; "" when the raster has no CRS
    tiles_hint: int = 0  # pixels of the item, for planning
    after: Optional[str] = None
    stac_id: Optional[str] = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def item_id(path: str, after: Optional[str] = None, cell: str = "") -> str:
    """A short, stable id of an item: sha1 of its path(s) and cell (16 hex digits)."""
    key = "\n".join([path, after or "", cell])
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def _stat(path: str) -> tuple[int, int]:
    """``(size, mtime_ns)`` of a local file; (0, 0) for a GDAL URI or something that is not a file."""
    if path.startswith("/vsi") or not os.path.isfile(path):
        return 0, 0
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def file_digest(path: str, memo: Optional[dict[tuple[str, int, int], str]] = None) -> tuple[str, int, int]:
    """``(sha256, size, mtime_ns)`` of a file's bytes.

    ``memo`` maps ``(path, size, mtime_ns)`` to a digest computed before (by an earlier run): a file that has
    neither changed size nor been written since is not read again. GDAL URIs (``/vsi...``) are not hashed:
    their digest is the sha256 of the URI.
    """
    size, mtime = _stat(path)
    if (size, mtime) == (0, 0):
        return hashlib.sha256(path.encode("utf-8")).hexdigest(), 0, 0
    key = (path, size, mtime)
    if memo is not None and key in memo:
        return memo[key], size, mtime
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest(), size, mtime


def source_key(src: Source) -> str:
    """The path a source's digest is memoised under: its path, or both paths of a pair."""
    return src.path if src.after is None else f"{src.path}\n{src.after}"


def source_digest(src: Source, memo: Optional[dict[tuple[str, int, int], str]] = None) -> tuple[str, int, int]:
    """The digest of a source: its file's, or for a pair the sha256 of both files' digests in order.

    ``memo`` as for :func:`file_digest`, keyed by :func:`source_key` and the summed size and newest mtime.
    """
    if src.after is None:
        return file_digest(src.path, memo)
    stats = [_stat(p) for p in (src.path, src.after)]
    size, mtime = stats[0][0] + stats[1][0], max(stats[0][1], stats[1][1])
    key = (source_key(src), size, mtime)
    if memo is not None and key in memo:
        return memo[key], size, mtime
    first, second = file_digest(src.path), file_digest(src.after)
    return hashlib.sha256((first[0] + second[0]).encode("ascii")).hexdigest(), size, mtime
