"""A seeded corpus of bad and unusual inputs for the CLI, one :class:`Case` each (issue 10).

``make_corpus(folder, seed)`` writes every input file the cases need under ``folder`` (rasters, broken files,
checkpoint folders...) and returns the cases; the same seed gives the same bytes. Each case is a command line
for ``python -m core`` and the contract it must keep (see ``tests/badinput/test_corpus.py``): exit status 2
and one ``error: `` line, or exit 0 with a result that is checked; never a traceback; inputs unchanged;
nothing left beside the declared output nor in TMPDIR.

Placeholders in ``argv``, ``output`` and ``seed_out`` sources: ``{out}`` is the case's own output folder (also
its working directory), filled in when the case runs.

Run ``python -m tests.badinput.corpus OUT [--seed N]`` to write the files and ``OUT/cases.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
from affine import Affine

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from tests.rasters import GEO_CRS, GEO_TRANSFORM, UTM_CRS, UTM_TRANSFORM, make_raster  # noqa: E402

COMMON = ["--model", "tiny", "--device", "cpu", "--tile", "64", "--overlap", "16", "--quiet"]
SIGNAL_OPTIONS = ["--model", "tiny", "--device", "cpu", "--tile", "32", "--overlap", "0",
                  "--batch-size", "1"]  # the default backend (onnx on CPU): its session leaves nothing in TMPDIR
MEASURED = "How much of this scene is water?"  # answered by measurement: prints "source: measured"
SIZE = 64  # most rasters are SIZE x SIZE pixels of 10 m
PICKLE_MARKER = "PICKLE_WAS_LOADED"  # created by unpickling the corpus's pytorch_model.bin: must never appear
SIGNALS = {"SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129}  # 128 + signal number
CATEGORIES = ("files", "rasters", "aois", "questions", "options", "checkpoints", "outputs", "signals")


@dataclass
class Case:
    """One command line and the contract it must keep."""

    id: str  # "<category>-<name>"
    category: str
    argv: list[str]  # after ``python -m core``; "{out}" is the case's output folder
    expect: str  # "ok" (exit 0 and a checked result), "error" (exit 2, one line), "either", "signal"
    check: Optional[str] = None  # on exit 0: "raster" | "measured" | "answer" | "choice" | "label" | "gpkg"
    output: Optional[str] = None  # the declared output file ("{out}/...")
    like: Optional[str] = None  # "raster": the input whose CRS, size and transform the output must have
    area_m2: Optional[float] = None  # "measured" with --json: the measured classes' total area
    area_tol: float = 0.02  # relative tolerance of area_m2
    no_hectares: bool = False  # a raster without CRS: no "ha" figures unless the text mentions the CRS
    seed_out: list[list[Optional[str]]] = field(default_factory=list)  # [name in {out}, source or None (dir)]
    replaced: bool = False  # the declared output was seeded: it must have new content
    never: list[str] = field(default_factory=list)  # paths that must never exist (a loaded pickle's marker)
    nonroot: bool = False  # meaningless as root (permissions): skipped there
    signal: Optional[str] = None  # "SIGINT" | "SIGTERM" | "SIGHUP": sent mid-run to a subprocess
    status: Optional[int] = None  # the exit status a signal case must end with
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _Corpus:
    """Builds the cases and, when ``write``, the files they read."""

    def __init__(self, folder: Path, seed: int, write: bool) -> None:
        self.folder, self.seed, self.write = Path(folder), seed, write
        self.rng = np.random.default_rng(seed)
        self.cases: list[Case] = []
        self._n = 0
        if write:
            self.folder.mkdir(parents=True, exist_ok=True)

    # ----- files --------------------------------------------------------------------------------
    def path(self, name: str) -> str:
        return str(self.folder / name)

    def raster(self, name: str, **kw: Any) -> str:
        """A GeoTIFF (tests.rasters.make_raster) with a seed of its own, derived from the corpus seed."""
        self._n += 1
        kw.setdefault("width", SIZE)
        kw.setdefault("height", SIZE)
        path = self.path(name)
        if self.write:
            import warnings

            from rasterio.errors import NotGeoreferencedWarning

            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the raster without CRS, on purpose
                make_raster(path, seed=self.seed * 1000 + self._n, **kw)
        return path

    def data(self, count: int, height: int, width: int) -> np.ndarray:
        return self.rng.random((count, height, width))

    def blob(self, name: str, content: bytes) -> str:
        path = self.path(name)
        if self.write:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(content)
        return path

    def folder_at(self, name: str) -> str:
        path = self.path(name)
        if self.write:
            Path(path).mkdir(parents=True, exist_ok=True)
        return path

    def symlink(self, name: str, target: str) -> str:
        path = self.path(name)
        if self.write:
            os.symlink(target, path)
        return path

    def vrt(self, name: str, source: str, width: int = SIZE, height: int = SIZE, count: int = 3) -> str:
        """A VRT over ``source`` (a GeoTIFF of the corpus, referenced relative to the VRT)."""
        from rasterio.crs import CRS

        srs = CRS.from_user_input(UTM_CRS).to_wkt().replace("&", "&amp;").replace("<", "&lt;")
        gt = UTM_TRANSFORM.to_gdal()
        bands = "".join(
            f'  <VRTRasterBand dataType="Byte" band="{b}">\n    <SimpleSource>\n'
            f'      <SourceFilename relativeToVRT="1">{Path(source).name}</SourceFilename>\n'
            f"      <SourceBand>{b}</SourceBand>\n    </SimpleSource>\n  </VRTRasterBand>\n"
            for b in range(1, count + 1)
        )
        text = (f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">\n  <SRS>{srs}</SRS>\n'
                f"  <GeoTransform>{', '.join(repr(float(v)) for v in gt)}</GeoTransform>\n{bands}</VRTDataset>\n")
        return self.blob(name, text.encode())

    def png(self, name: str) -> str:
        """A PNG without georeferencing (no world file, no .aux.xml)."""
        path = self.path(name)
        if self.write:
            import warnings

            import rasterio
            from rasterio.errors import NotGeoreferencedWarning

            values = (self.data(3, SIZE, SIZE) * 255).astype("uint8")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(path, "w", driver="PNG", width=SIZE, height=SIZE, count=3, dtype="uint8") as dst:
                    dst.write(values)
            for extra in Path(path).parent.glob(Path(path).name + ".*"):
                extra.unlink()  # the .aux.xml GDAL may add
        return path

    def weights(self, name: str, fmt: str = "earthask-trained-1") -> str:
        """A small, valid safetensors file whose metadata names the format ``fmt`` (one made-up tensor)."""
        path = self.path(name)
        if self.write:
            from safetensors.numpy import save_file

            Path(path).parent.mkdir(parents=True, exist_ok=True)
            save_file({"head.weight": self.rng.random((2, 2)).astype(np.float32)}, path, metadata={"format": fmt})
        return path

    def tiny_config(self, **extra: Any) -> bytes:
        from models.config import VLMConfig

        return json.dumps({**dataclasses.asdict(VLMConfig.tiny()), **extra}, indent=2).encode()

    # ----- cases --------------------------------------------------------------------------------
    def add(self, category: str, name: str, argv: list[str], expect: str, **kw: Any) -> Case:
        assert category in CATEGORIES and expect in ("ok", "error", "either", "signal"), (category, expect)
        case = Case(id=f"{category}-{name}", category=category, argv=argv, expect=expect, **kw)
        assert all(c.id != case.id for c in self.cases), case.id
        self.cases.append(case)
        return case

    def ask(self, category: str, name: str, raster: str, expect: str, *extra: str, question: str = MEASURED,
            **kw: Any) -> Case:
        """``ask RASTER QUESTION`` (the measured question by default) + COMMON + extra options."""
        kw.setdefault("check", "measured" if question == MEASURED else "answer")
        return self.add(category, name, ["ask", raster, question, *COMMON, *extra], expect, **kw)

    def segment(self, category: str, name: str, raster: str, expect: str, *extra: str,
                out: str = "{out}/landcover.tif", **kw: Any) -> Case:
        """``segment RASTER --out OUT`` + COMMON + extra options; on success the output is checked."""
        kw.setdefault("check", "raster")
        kw.setdefault("like", raster)
        return self.add(category, name, ["segment", raster, "--out", out, *COMMON, *extra], expect,
                        output=out, **kw)


def _utm_area(width: int = SIZE, height: int = SIZE, pixel: float = 10.0) -> float:
    return width * height * pixel * pixel


def _geodesic_box_area(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Area in m² of a lon/lat box (lon1 may be past 180: it crosses the antimeridian)."""
    from pyproj import Geod

    area, _ = Geod(ellps="WGS84").polygon_area_perimeter([lon0, lon1, lon1, lon0], [lat0, lat0, lat1, lat1])
    return abs(area)


def make_corpus(folder: str | os.PathLike[str], seed: int = 0, write: bool = True) -> list[Case]:
    """Write every input file of the corpus under ``folder`` (unless ``write`` is False) and return the cases."""
    c = _Corpus(Path(folder), seed, write)
    base = c.raster("base.tif")  # read by many cases, never written
    x0, y0 = UTM_TRANSFORM.c, UTM_TRANSFORM.f  # its top-left corner; 640 m x 640 m

    # ----- files ---------------------------------------------------------------------------------
    good = c.raster("source_for_broken.tif", width=128, height=128)
    whole = Path(good).read_bytes() if write else b""
    c.ask("files", "missing", c.path("does_not_exist.tif"), "error")
    c.ask("files", "empty", c.blob("empty.tif", b""), "error")
    c.ask("files", "directory", c.folder_at("a_folder.tif"), "error")
    c.ask("files", "truncated-header", c.blob("truncated_600.tif", whole[:600]), "error")
    c.segment("files", "truncated-half", c.blob("truncated_half.tif", whole[: len(whole) // 2]), "error")
    c.ask("files", "random-bytes", c.blob("random.tif", c.rng.bytes(4096)), "error")
    c.ask("files", "text-file", c.blob("notes.tif", b"this is not a raster\nbut a note\n"), "error")
    c.ask("files", "text-txt", c.blob("notes.txt", b"lat,lon\n37.7,-75.7\n"), "error")
    c.ask("files", "html-named-tif", c.blob("download.tif", b"<!DOCTYPE html><html><body>404 Not Found"
                                                             b"</body></html>\n"), "error")
    c.ask("files", "tiff-magic-only", c.blob("magic.tif", b"II*\x00" + c.rng.bytes(60)), "error")
    locked = c.raster("no_permission.tif")
    if write:
        os.chmod(locked, 0)
    c.ask("files", "no-read-permission", locked, "error", nonroot=True)
    c.ask("files", "dangling-symlink", c.symlink("dangling.tif", "nowhere.tif"), "error")
    c.ask("files", "symlink-loop", c.symlink("loop.tif", "loop.tif"), "error")
    c.ask("files", "raster-empty-string", "", "error")
    c.ask("files", "dev-null", "/dev/null", "error")
    spaced = c.raster("scène d'été ☀ 2024/my scene – été.tif")
    c.segment("files", "space-unicode-path", spaced, "ok")
    c.segment("files", "space-unicode-out", base, "ok", out="{out}/sortie été ☀.tif")

    # ----- rasters -------------------------------------------------------------------------------
    s2 = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
    c.segment("rasters", "1-band", c.raster("band1.tif", count=1), "ok")
    c.segment("rasters", "2-band", c.raster("band2.tif", count=2, dtype="uint16"), "either")
    c.segment("rasters", "4-band", c.raster("band4.tif", count=4, dtype="uint16"), "ok")
    b13 = c.raster("band13.tif", count=13, dtype="uint16", descriptions=s2)
    c.segment("rasters", "13-band", b13, "ok")
    c.ask("rasters", "13-band-ask", b13, "ok", "--json", area_m2=_utm_area())
    c.segment("rasters", "uint8", base, "ok")
    c.segment("rasters", "uint16", c.raster("uint16.tif", dtype="uint16"), "ok")
    c.segment("rasters", "int16", c.raster("int16.tif", dtype="int16"), "ok")
    nan = float("nan")
    c.segment("rasters", "float32-nan", c.raster("float32_nan.tif", dtype="float32", nodata=nan,
                                                 nodata_box=(0, 0, 20, 20)), "ok")
    c.segment("rasters", "float64-nan", c.raster("float64_nan.tif", dtype="float64", nodata=nan,
                                                 nodata_box=(10, 10, 30, 30)), "ok")
    untagged = c.data(3, SIZE, SIZE).astype("float32")
    untagged[:, :16, :] = nan
    c.segment("rasters", "float32-nan-untagged", c.raster("float32_nan_untagged.tif", dtype="float32",
                                                          data=untagged), "ok")
    infs = c.data(3, SIZE, SIZE).astype("float32")
    infs[:, 5:9, 5:9], infs[:, 20:24, 30:34] = np.inf, -np.inf
    c.segment("rasters", "float32-inf", c.raster("float32_inf.tif", dtype="float32", data=infs), "either")
    c.segment("rasters", "all-nodata", c.raster("all_nodata.tif", nodata=0, data=np.zeros((3, SIZE, SIZE))),
              "either")
    c.segment("rasters", "all-nan", c.raster("all_nan.tif", dtype="float32", nodata=nan,
                                             data=np.full((3, SIZE, SIZE), nan)), "either")
    c.segment("rasters", "constant-uint16", c.raster("constant.tif", dtype="uint16",
                                                     data=np.full((3, SIZE, SIZE), 1000)), "ok")
    c.segment("rasters", "complex64", c.raster("complex64.tif", dtype="complex64"), "either")
    no_crs = c.raster("no_crs.tif", crs=None, transform=Affine.identity())
    c.segment("rasters", "no-crs", no_crs, "ok")
    c.ask("rasters", "no-crs-ask", no_crs, "ok", no_hectares=True)
    rotated_t = Affine.translation(x0, y0) * Affine.rotation(30) * Affine.scale(10, -10)
    rotated = c.raster("rotated.tif", transform=rotated_t)
    c.segment("rasters", "rotated", rotated, "ok")
    c.ask("rasters", "rotated-ask-area", rotated, "ok", "--json", area_m2=_utm_area())
    c.segment("rasters", "tiny-1x1", c.raster("one_pixel.tif", width=1, height=1), "either")
    c.segment("rasters", "strip-3x500", c.raster("strip.tif", width=500, height=3), "either")
    png = c.png("photo.png")
    c.segment("rasters", "png-no-georef", png, "either")
    feet_factor = 1200 / 3937  # US survey foot
    feet = c.raster("feet.tif", crs="EPSG:2263", transform=Affine(10, 0, 989791.0, 0, -10, 212522.0))
    c.segment("rasters", "feet-crs", feet, "ok")
    c.ask("rasters", "feet-crs-area", feet, "ok", "--json", area_m2=_utm_area(pixel=10 * feet_factor))
    north = c.raster("polar_north.tif", crs="EPSG:3413", transform=Affine(10, 0, -320.0, 0, -10, -2187607.65))
    c.segment("rasters", "polar-stereographic-north", north, "ok")
    c.ask("rasters", "polar-stereographic-area", north, "ok", "--json", area_m2=_utm_area(), area_tol=0.03)
    c.raster("vrt_source.tif")
    vrt = c.vrt("scene.vrt", c.path("vrt_source.tif"))
    c.segment("rasters", "vrt", vrt, "ok")
    c.ask("rasters", "vrt-missing-source", c.vrt("orphan.vrt", c.path("orphan_source_missing.tif")), "error")
    geo = c.raster("geographic.tif", crs=GEO_CRS, transform=GEO_TRANSFORM)
    c.segment("rasters", "geographic-4326", geo, "ok")

    # ----- AOIs (on base.tif, UTM 18N, 640 m square) ---------------------------------------------------
    def aoi(name: str, text: str, expect: str, raster: str = base, **kw: Any) -> Case:
        return c.ask("aois", name, raster, expect, "--aoi", text, **kw)

    aoi("outside-scene", "0,0,10,10", "error")
    aoi("inverted-bbox", f"{x0 + 300},{y0 - 100},{x0 + 100},{y0 - 300}", "error")
    aoi("three-numbers", f"{x0 + 100},{y0 - 300},{x0 + 300}", "error")
    aoi("five-numbers", f"{x0},{y0 - 300},{x0 + 300},{y0},7", "error")
    aoi("bad-wkt", "POLYGON((1 2, 3 4", "error")
    aoi("point-wkt", f"POINT({x0 + 100} {y0 - 100})", "error")
    aoi("words", "the north of the scene", "error")
    aoi("empty", "", "either")
    aoi("epsg-bogus", f"{x0 + 100},{y0 - 300},{x0 + 300},{y0 - 100}@EPSG:bogus", "error")
    aoi("epsg-unknown-code", f"{x0 + 100},{y0 - 300},{x0 + 300},{y0 - 100}@EPSG:999999", "error")
    aoi("nan", "nan,nan,nan,nan", "error")
    aoi("inf", f"{x0},{y0 - 300},inf,inf", "error")
    aoi("huge-lonlat", "1e20,1e20,2e20,2e20@EPSG:4326", "error")
    aoi("latlon-swapped", "37.7553,-75.7285,37.7593,-75.7235@EPSG:4326", "error")
    aoi("lonlat-without-crs", "-75.7285,37.7553,-75.7235,37.7593", "error")
    lonlat = (-75.7285, 37.7553, -75.7235, 37.7593)  # inside base.tif
    aoi("lonlat-epsg-4326", ",".join(map(str, lonlat)) + "@EPSG:4326", "ok",
        area_m2=_geodesic_box_area(*lonlat), area_tol=0.1)
    aoi("partly-outside", f"{x0 - 500},{y0 - 200},{x0 + 200},{y0 + 500}", "ok",
        area_m2=200.0 * 200.0)
    rect = f"POLYGON(({x0 + 100} {y0 - 100}, {x0 + 300} {y0 - 100}, {x0 + 300} {y0 - 400}, {x0 + 100} {y0 - 400}, " \
           f"{x0 + 100} {y0 - 100}))"
    aoi("polygon", rect, "ok", area_m2=200.0 * 300.0)
    w, s, e, n = lonlat
    aoi("polygon-4326", f"POLYGON(({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s}))@EPSG:4326", "ok",
        area_m2=_geodesic_box_area(*lonlat), area_tol=0.1)
    aoi("multipolygon", f"MULTIPOLYGON((({x0 + 10} {y0 - 10}, {x0 + 110} {y0 - 10}, {x0 + 110} {y0 - 110}, "
        f"{x0 + 10} {y0 - 110}, {x0 + 10} {y0 - 10})), (({x0 + 400} {y0 - 400}, {x0 + 500} {y0 - 400}, "
        f"{x0 + 500} {y0 - 500}, {x0 + 400} {y0 - 500}, {x0 + 400} {y0 - 400})))", "ok",
        area_m2=2 * 100.0 * 100.0)
    aoi("bowtie-polygon", f"POLYGON(({x0 + 100} {y0 - 100}, {x0 + 300} {y0 - 300}, {x0 + 300} {y0 - 100}, "
        f"{x0 + 100} {y0 - 300}, {x0 + 100} {y0 - 100}))", "either")
    aoi("sub-pixel", f"{x0 + 101},{y0 - 109},{x0 + 102},{y0 - 108}", "either")
    aoi("4326-on-raster-without-crs", ",".join(map(str, lonlat)) + "@EPSG:4326", "error", raster=no_crs)
    # A scene in UTM 60S straddling 180° (Fiji); the AOI crosses the antimeridian (xmin > xmax in longitude).
    dateline = c.raster("antimeridian.tif", crs="EPSG:32760", transform=Affine(10, 0, 819131.55, 0, -10, 8118318.19))
    c.segment("aois", "antimeridian-scene", dateline, "ok")
    aoi("antimeridian-bbox", "179.999,-17.002,-179.999,-16.998@EPSG:4326", "ok", raster=dateline,
        area_m2=_geodesic_box_area(179.999, -17.002, 180.001, -16.998), area_tol=0.15)

    # ----- questions ---------------------------------------------------------------------------------
    c.ask("questions", "empty", base, "error", question="")
    c.ask("questions", "whitespace", base, "error", question="   \t  ")
    c.ask("questions", "5000-characters", base, "either",
          question=("Describe the land cover of this scene in detail " * 110)[:5000])
    c.ask("questions", "emoji-only", base, "either", question="🌊🌳🏠❓")
    c.ask("questions", "measured-water", base, "ok")
    c.ask("questions", "measured-water-json", base, "ok", "--json", area_m2=_utm_area())
    c.ask("questions", "measured-forest-percent", base, "ok", question="What percentage is covered by trees?",
          check="measured")
    c.ask("questions", "open-ended", base, "ok", question="What is in this image?")
    c.ask("questions", "measured-with-choices", base, "ok", "--choices", "none|some|most", check="measured")
    c.add("questions", "ground-empty-prompt", ["ground", base, "", *COMMON], "error")
    c.add("questions", "ground-whitespace-prompt", ["ground", base, "  ", *COMMON], "error")
    c.add("questions", "ground-measured-lakes", ["ground", base, "the largest lakes", *COMMON], "ok", check="ground")

    # ----- options -----------------------------------------------------------------------------------
    def opt(name: str, expect: str, *extra: str, **kw: Any) -> Case:
        return c.ask("options", name, base, expect, *extra, **kw)

    opt("tile-0", "error", "--tile", "0")
    opt("tile-10", "either", "--tile", "10", "--overlap", "2")
    opt("tile-negative", "error", "--tile", "-64")
    opt("tile-not-a-number", "error", "--tile", "big")
    opt("overlap-negative", "error", "--overlap", "-1")
    opt("overlap-equals-tile", "error", "--tile", "64", "--overlap", "64")
    opt("overlap-above-tile", "error", "--tile", "64", "--overlap", "100")
    opt("batch-size-0", "error", "--batch-size", "0")
    opt("batch-size-negative", "error", "--batch-size", "-3")
    opt("batch-size-huge", "either", "--batch-size", "100000")
    opt("device-tpu", "error", "--device", "tpu")
    opt("device-cuda-99", "error", "--device", "cuda:99")
    opt("backend-foo", "error", "--backend", "foo")
    opt("unknown-option", "error", "--frobnicate")
    opt("semantic-db-missing", "error", "--semantic-db", c.path("no_such_db"))
    opt("model-empty", "error", "--model", "")
    letters = [f"choice {i}" for i in range(27)]
    opt("choices-27", "error", "--choices", "|".join(letters), question="Which choice fits?")
    opt("choices-26", "ok", "--choices", "|".join(letters[:26]), question="Which choice fits?", check="choice")
    opt("choices-one", "error", "--choices", "yes", question="Is it urban?")
    opt("choices-duplicate", "error", "--choices", "a|a|b", question="Which one?")
    opt("choices-empty", "error", "--choices", "||", question="Which one?")
    opt("choices-two", "ok", "--choices", "yes|no", question="Is it urban?", check="choice")
    c.add("options", "labels-one", ["classify", base, *COMMON, "--labels", "forest"], "error")
    c.add("options", "labels-duplicate", ["classify", base, *COMMON, "--labels", "forest|forest"], "error")
    c.add("options", "labels-two", ["classify", base, *COMMON, "--labels", "forest|city"], "ok", check="label")
    c.add("options", "no-command", [], "error")
    c.add("options", "unknown-command", ["frobnicate", base], "error")
    c.add("options", "segment-missing-raster", ["segment", *COMMON], "error")

    # ----- checkpoints (--model DIR) -----------------------------------------------------------------
    def ckpt(name: str, model: str, expect: str = "error", **kw: Any) -> Case:
        return c.ask("checkpoints", name, base, expect, "--model", model, **kw)

    ckpt("missing-folder", c.path("no_such_checkpoint"))
    ckpt("model-is-a-file", base)
    ckpt("empty-folder", c.folder_at("ckpt_empty"))
    c.blob("ckpt_no_config/model.safetensors", c.rng.bytes(256))
    ckpt("no-config-json", c.path("ckpt_no_config"))
    c.blob("ckpt_not_json/config.json", b"{vision_name: tiny,,")
    ckpt("config-not-json", c.path("ckpt_not_json"))
    c.blob("ckpt_json_list/config.json", b"[1, 2, 3]\n")
    ckpt("config-json-list", c.path("ckpt_json_list"))
    # config.json files that are JSON but wrong, beside a model.safetensors that looks like EarthAsk's (so
    # that the config, not a missing weights file, is what gets refused)
    c.blob("ckpt_unknown_keys/config.json", c.tiny_config(not_a_setting=1, colour="blue") if write else b"")
    c.weights("ckpt_unknown_keys/model.safetensors")
    ckpt("config-unknown-keys", c.path("ckpt_unknown_keys"))
    c.blob("ckpt_wrong_types/config.json", c.tiny_config(seg_dim="sixteen", vision_image_size=-1) if write else b"")
    c.weights("ckpt_wrong_types/model.safetensors")
    ckpt("config-wrong-types", c.path("ckpt_wrong_types"))
    c.blob("ckpt_no_weights/config.json", c.tiny_config() if write else b"")
    ckpt("config-without-weights", c.path("ckpt_no_weights"))
    c.blob("ckpt_corrupt/config.json", c.tiny_config() if write else b"")
    c.blob("ckpt_corrupt/model.safetensors", c.rng.bytes(2048))
    ckpt("corrupt-safetensors", c.path("ckpt_corrupt"))
    c.blob("ckpt_empty_weights/config.json", c.tiny_config() if write else b"")
    c.blob("ckpt_empty_weights/model.safetensors", b"")
    ckpt("empty-safetensors", c.path("ckpt_empty_weights"))
    c.blob("ckpt_foreign/config.json", c.tiny_config() if write else b"")
    c.weights("ckpt_foreign/model.safetensors", fmt="pt")
    ckpt("foreign-safetensors", c.path("ckpt_foreign"))
    marker = c.path(PICKLE_MARKER)
    payload = pickle.dumps(_Trap(marker), protocol=2) if write else b""
    c.blob("ckpt_pickle_only/pytorch_model.bin", payload)
    ckpt("pickle-only", c.path("ckpt_pickle_only"), never=[marker])
    c.blob("ckpt_pickle_config/config.json", c.tiny_config() if write else b"")
    c.blob("ckpt_pickle_config/pytorch_model.bin", payload)
    ckpt("pickle-with-config", c.path("ckpt_pickle_config"), never=[marker])

    # ----- output paths ------------------------------------------------------------------------------
    own = c.raster("own_input.tif")
    c.segment("outputs", "onto-input", own, "error", out=own)
    c.segment("outputs", "onto-input-other-spelling", own, "error",
              out=str(Path(own).parent / "a_folder.tif" / ".." / Path(own).name))
    c.segment("outputs", "onto-input-via-symlink", own, "either", out="{out}/link.tif",
              seed_out=[["link.tif", "->" + own]], note="refuse, or replace the link itself: the input stays")
    c.add("outputs", "ground-onto-input", ["ground", own, "the largest lakes", "--out", own, *COMMON], "error")
    c.segment("outputs", "empty", base, "error", out="")
    c.segment("outputs", "missing-folder", base, "error", out="{out}/missing/landcover.tif")
    c.segment("outputs", "parent-is-a-file", base, "error", out=base + "/landcover.tif")
    c.segment("outputs", "existing-directory", base, "error", out="{out}/existing",
              seed_out=[["existing", None]])
    c.segment("outputs", "segment-gpkg", base, "error", out="{out}/landcover.gpkg")
    c.segment("outputs", "segment-shp", base, "error", out="{out}/landcover.shp")
    c.add("outputs", "ground-tif", ["ground", base, "the largest lakes", "--out", "{out}/lakes.tif", *COMMON],
          "error")
    c.add("outputs", "ground-model-tif", ["ground", base, "the cars", "--out", "{out}/cars.tif", *COMMON], "error")
    c.add("outputs", "ground-gpkg", ["ground", base, "the largest lakes", "--out", "{out}/lakes.gpkg", *COMMON],
          "ok", check="gpkg", output="{out}/lakes.gpkg")
    c.raster("vrt_own_source.tif")
    own_vrt = c.vrt("own.vrt", c.path("vrt_own_source.tif"))
    c.segment("outputs", "onto-vrt-source", own_vrt, "error", out=c.path("vrt_own_source.tif"))
    c.segment("outputs", "relative-path", base, "ok", out="relative_landcover.tif").output = \
        "{out}/relative_landcover.tif"  # relative to the working directory, the case's output folder
    earlier = c.raster("earlier_output.tif", count=1, data=np.ones((1, SIZE, SIZE)))
    c.segment("outputs", "replace-earlier-output", base, "ok", out="{out}/earlier.tif",
              seed_out=[["earlier.tif", earlier]], replaced=True)
    c.segment("outputs", "uppercase-TIF", base, "ok", out="{out}/LANDCOVER.TIF")

    # ----- signals (subprocesses; a raster that takes a few seconds at tile 32, batch 1, even with onnx) --------
    big = c.raster("signal_scene.tif", width=1536, height=1536)
    for name, status in SIGNALS.items():
        c.add("signals", name, ["segment", big, "--out", "{out}/landcover.tif", *SIGNAL_OPTIONS], "signal",
              signal=name, status=status)

    for case in c.cases:  # the JSON form of results needs --json in the command line
        if case.argv and case.area_m2 is not None and "--json" not in case.argv:
            case.argv.append("--json")
    return c.cases


class _Trap:
    """Unpickling this creates the marker file: proof that a pickle was loaded (it must never be)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Write the bad-input corpus and its cases.jsonl.")
    parser.add_argument("out", help="folder to write (created)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cases = make_corpus(args.out, args.seed)
    with open(Path(args.out) / "cases.jsonl", "w", encoding="utf-8") as f:
        for case in cases:
            f.write(json.dumps(case.to_json(), ensure_ascii=False) + "\n")
    counts = {cat: sum(1 for x in cases if x.category == cat) for cat in CATEGORIES}
    print(f"{len(cases)} cases in {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
