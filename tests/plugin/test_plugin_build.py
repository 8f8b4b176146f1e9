"""build.py makes an installable zip; installed into a throwaway profile it runs through qgis_process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
import build  # noqa: E402

SITE_PACKAGES = REPO / ".venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory) -> Path:
    return build.build(tmp_path_factory.mktemp("dist"))


def test_zip_has_one_root_with_the_plugin_at_its_top(plugin_zip: Path) -> None:
    version = build.read_version()
    assert plugin_zip.name == f"earthask-{version}.zip"
    assert build.verify_zip(plugin_zip, version) == []
    with zipfile.ZipFile(plugin_zip) as zf:
        names = zf.namelist()
        init = zf.read("earthask/__init__.py").decode()
    assert {n.split("/")[0] for n in names} == {"earthask"}
    for rel in ("__init__.py", "metadata.txt", "chat_dock.py", "engine_worker.py", "processing_provider/provider.py",
                "resources/icons/earthask.svg", "core/engine.py", "core/results.py", "models/vlm.py"):
        assert f"earthask/{rel}" in names, rel
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/tests/" in n]
    assert not [n for n in names if n.startswith("earthask/resources/demo/")]
    assert "def classFactory" in init and init.count("def ") == 1


def test_onnx_build_puts_the_encoders_beside_the_model(tmp_path: Path) -> None:
    path = build.build(tmp_path, onnx=True, model="tiny")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    for name in ("segmenter.onnx", "image_tower.onnx"):
        assert f"earthask/resources/model/onnx/{name}" in names
    assert build.verify_zip(path, build.read_version()) == []


def test_verify_zip_finds_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("earthask/__init__.py", "x = 1\n")
        zf.writestr("earthask/metadata.txt", "[general]\nversion=9.9\n")
        zf.writestr("earthask/core/__pycache__/a.pyc", b"")
        zf.writestr("other/file.txt", "")
    problems = " | ".join(build.verify_zip(bad, "0.1.0"))
    for expected in ("one root folder", "missing earthask/core/engine.py", "caches", "classFactory",
                     "metadata version 9.9"):
        assert expected in problems


@pytest.mark.skipif(shutil.which("qgis_process") is None, reason="qgis_process is not installed")
def test_installed_zip_runs_an_algorithm_through_qgis_process(plugin_zip: Path, tmp_path: Path) -> None:
    from rasters import make_raster

    plugins = tmp_path / "plugins"
    with zipfile.ZipFile(plugin_zip) as zf:
        zf.extractall(plugins)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "profile"),
           "QGIS_PLUGINPATH": str(plugins), "PYTHONPATH": str(SITE_PACKAGES)}
    enable = subprocess.run(["qgis_process", "plugins", "enable", "earthask"], env=env, capture_output=True,
                            text=True, timeout=180)
    assert enable.returncode == 0, enable.stdout + enable.stderr
    listed = subprocess.run(["qgis_process", "list"], env=env, capture_output=True, text=True, timeout=180)
    for alg in ("earthask:caption_rasters", "earthask:caption_grid", "earthask:segment", "earthask:ask",
                "earthask:ground"):
        assert alg in listed.stdout
    raster = make_raster(tmp_path / "scene.tif", width=96, height=80, seed=4)
    out = tmp_path / "captions.gpkg"
    run = subprocess.run(["qgis_process", "--json", "run", "earthask:caption_rasters", "--", f"INPUT={raster}",
                          "MODEL=tiny", f"OUTPUT={out}"], env=env, capture_output=True, text=True, timeout=600,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    result = json.loads(run.stdout)
    assert result["results"]["OUTPUT"] == str(out)
    from qgis.core import QgsVectorLayer

    table = QgsVectorLayer(str(out), "captions", "ogr")
    rows = list(table.getFeatures())
    assert len(rows) == 1 and rows[0]["raster"] == "scene" and rows[0]["model"] == "tiny-random"
    assert rows[0]["path"] == raster and rows[0]["tiles"] >= 1
