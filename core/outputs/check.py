"""Check an output path before any work: never an input, the right format, a folder that exists."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Optional, Union

from core.errors import InputError

PathLike = Union[str, "os.PathLike[str]"]

# format -> (what the user is told, the extensions it is written under)
FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "geotiff": ("a GeoTIFF", (".tif", ".tiff")),
    "gpkg": ("a GeoPackage", (".gpkg",)),
    "folder": ("a folder", ()),
}


def input_files(raster: PathLike) -> list[str]:
    """Every file GDAL reads for ``raster``: the raster, its sidecars (.aux.xml, .ovr) and a VRT's sources."""
    import rasterio

    try:
        with rasterio.open(os.fspath(raster)) as ds:
            return [os.fspath(raster), *ds.files]
    except Exception:  # an unreadable raster is reported by the raster checks, not here
        return [os.fspath(raster)]


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path: Optional[PathLike], fmt: str, inputs: Iterable[PathLike] = (), what: str = "--out") -> str:
    """The absolute output path, after checking it can be written without harm.

    Raises:
        InputError: an empty path; a path that is an input (or one of its files); the wrong extension for
            ``fmt``; a file path that is an existing folder; a folder that does not exist or is read-only.
    """
    text = "" if path is None else os.fspath(path)
    label, extensions = FORMATS[fmt]
    if not text.strip():
        raise InputError(f"The output path ({what}) is empty.")
    out = os.path.abspath(os.path.expanduser(text))
    for given in inputs:
        if os.path.exists(out) and os.path.exists(os.fspath(given)) and _same(out, os.fspath(given)):
            raise InputError(f"The output {text} is one of the inputs ({given}); refusing to overwrite it.")
    if fmt == "folder":
        if os.path.exists(out) and not os.path.isdir(out):
            raise InputError(f"The output {text} is a file, not a folder.")
        parent = os.path.dirname(out.rstrip(os.sep)) or os.sep
    else:
        if os.path.isdir(out) or text.endswith(("/", os.sep)):
            raise InputError(f"The output {text} is a folder; give a file name ending in {extensions[0]}.")
        if not out.lower().endswith(extensions):
            raise InputError(f"The output {text} must be {label} ({' or '.join(extensions)}).")
        parent = os.path.dirname(out)
    if os.path.isfile(parent):
        raise InputError(f"The output folder {parent} is a file, not a folder.")
    if not os.path.isdir(parent):
        raise InputError(f"The output folder {parent} does not exist.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"The output folder {parent} cannot be written to.")
    return out
