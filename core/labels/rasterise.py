"""Label polygons (any OGR vector, any CRS) burnt onto a raster's grid, with the label-to-model class mapping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.errors import InputError

UNLABELLED = -1  # label grid value outside every polygon


@dataclass
class Labels:
    """Label polygons in the raster's CRS: one row per polygon, with its class name and a stable id."""

    frame: Any  # geopandas.GeoDataFrame with columns "label" (str), "polygon_id" (int), geometry
    names: list[str]  # label class names, sorted; index = value in the label grid

    def subset(self, ids: Sequence[int]) -> Labels:
        """The polygons whose ``polygon_id`` is in ``ids`` (the class list is kept whole)."""
        keep = self.frame["polygon_id"].isin(list(ids))
        return Labels(self.frame[keep].reset_index(drop=True), list(self.names))


@dataclass
class LabelGrid:
    """Labels burnt onto a raster grid: class index per pixel (``UNLABELLED`` outside) and polygon id."""

    classes: np.ndarray  # int16 [H, W]
    polygons: np.ndarray  # int32 [H, W], -1 outside
    names: list[str]
    transform: Any
    crs: Any
    notes: list[str] = field(default_factory=list)


def parse_mapping(items: Sequence[str]) -> dict[str, list[str]]:
    """``["vegetation=forest+agriculture", "lake=water"]`` -> ``{"vegetation": ["forest", "agriculture"], ...}``.

    Raises:
        InputError: an item without ``=``, with an empty name or class, or a name given twice.
    """
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, rhs = item.partition("=")
        classes = [c.strip() for c in rhs.split("+")]
        if not sep or not name.strip() or not all(classes):
            raise InputError(f"--map {item!r}: use NAME=CLASS or NAME=CLASS+CLASS")
        if name.strip() in out:
            raise InputError(f"--map: {name.strip()!r} is given twice")
        out[name.strip()] = classes
    return out


def resolve_mapping(names: Sequence[str], model_classes: Sequence[str],
                    explicit: Optional[dict[str, list[str]]] = None) -> dict[str, list[str]]:
    """The model classes each label class stands for: the explicit ``--map``, else the same name, else the
    class its words name ("lakes" -> water, "woods" -> forest); [] when the model lacks it (it then scores 0).

    Raises:
        InputError: an explicit mapping to a class the model does not have.
    """
    from core.landcover.words import class_of_word

    explicit = explicit or {}
    out: dict[str, list[str]] = {}
    for name in names:
        if name in explicit:
            bad = [c for c in explicit[name] if c not in model_classes]
            if bad:
                raise InputError(f"--map {name}: the model has no class {bad[0]!r}; it has {list(model_classes)}")
            out[name] = list(explicit[name])
        elif name in model_classes:
            out[name] = [name]
        else:
            word = class_of_word(name)
            out[name] = [word] if word in model_classes else []
    return out


def read_labels(path: str | Path, class_field: str, crs: Any, layer: Optional[str] = None) -> Labels:
    """Read polygons with a class field from any OGR vector and reproject them to ``crs``.

    Rows without a class or geometry, and non-polygon geometries, are dropped.

    Raises:
        InputError: unreadable file, missing field, no CRS on the layer, or no polygon left.
    """
    import geopandas as gpd

    path = Path(path)
    if not path.exists():
        raise InputError(f"Label file not found: {path}")
    try:
        frame = gpd.read_file(path, layer=layer)
    except Exception as e:  # noqa: BLE001 - any unreadable vector is one sentence
        raise InputError(f"Could not read the labels in {path}: {str(e).splitlines()[0][:200]}") from None
    if class_field not in frame.columns:
        fields = [c for c in frame.columns if c != "geometry"]
        raise InputError(f"{path} has no field {class_field!r}; its fields are {fields}")
    if frame.crs is None:
        raise InputError(f"{path} has no CRS: EarthAsk cannot place its polygons on the raster")
    frame = frame[frame.geometry.notna() & frame[class_field].notna()]
    frame = frame[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if frame.empty:
        raise InputError(f"{path} holds no polygon with a value in {class_field!r}")
    frame = frame.to_crs(crs) if crs is not None else frame
    out = gpd.GeoDataFrame({"label": frame[class_field].astype(str).str.strip().to_numpy(),
                            "polygon_id": np.arange(len(frame))}, geometry=frame.geometry.to_numpy(), crs=frame.crs)
    return Labels(out, sorted(set(out["label"])))


def rasterise(labels: Labels, shape: tuple[int, int], transform: Any, crs: Any = None) -> LabelGrid:
    """Burn the polygons onto the grid (pixel centres inside a polygon; later polygons win overlaps)."""
    from rasterio import features

    index = {n: i for i, n in enumerate(labels.names)}
    frame = labels.frame
    classes = np.full(shape, UNLABELLED, np.int16)
    polygons = np.full(shape, -1, np.int32)
    if len(frame):
        pairs = list(zip(frame.geometry, (index[n] for n in frame["label"])))
        classes = features.rasterize(pairs, out_shape=shape, transform=transform, fill=UNLABELLED, dtype="int16")
        polygons = features.rasterize(list(zip(frame.geometry, frame["polygon_id"].astype(int))), out_shape=shape,
                                      transform=transform, fill=-1, dtype="int32")
    notes = []
    burnt = set(np.unique(polygons[polygons >= 0]).tolist())
    missed = len(frame) - len(burnt)
    if missed:
        notes.append(f"{missed} polygon(s) cover no pixel centre of the raster (outside it, or too small)")
    return LabelGrid(classes, polygons, list(labels.names), transform, crs, notes)


def rasterise_file(raster: str | Path, labels_path: str | Path, class_field: str) -> tuple[Labels, LabelGrid]:
    """Read the labels of ``labels_path`` onto the grid of ``raster`` (reprojected to the raster's CRS)."""
    import rasterio

    with rasterio.open(raster) as ds:
        shape, transform, crs = (ds.height, ds.width), ds.transform, ds.crs
    labels = read_labels(labels_path, class_field, crs)
    return labels, rasterise(labels, shape, transform, crs)
