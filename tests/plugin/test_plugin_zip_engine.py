"""The installed zip in plain qgis_process (no PYTHONPATH): without an engine every algorithm says how to set it up;
``earthask:setup_engine -- PYTHON=...`` adopts the project's venv; then ``earthask:ask`` answers."""

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
from plugin.engine_client import default_python  # noqa: E402

pytestmark = [pytest.mark.qgis,
              pytest.mark.skipif(shutil.which("qgis_process") is None, reason="qgis_process is not installed")]


def _plain_env(tmp_path: Path, plugins: Path) -> dict[str, str]:
    """The environment a user's qgis_process has: no PYTHONPATH, no venv; a fresh profile with the zip's plugin."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile"),
               QGIS_PLUGINPATH=str(plugins))
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["qgis_process", *args], env=env, capture_output=True, text=True, timeout=600, cwd=cwd)


def test_zip_in_plain_qgis_process_sets_up_the_engine_then_answers(tmp_path: Path) -> None:
    from rasters import make_raster

    plugins = tmp_path / "plugins"
    with zipfile.ZipFile(build.build(tmp_path / "dist")) as zf:
        zf.extractall(plugins)
    env = _plain_env(tmp_path, plugins)
    enabled = _run(["plugins", "enable", "earthask"], env, tmp_path)
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    raster = make_raster(tmp_path / "scene.tif", width=96, height=80, seed=4)
    ask = ["--json", "run", "earthask:ask", "--", f"RASTER={raster}", "QUESTION=How much of this scene is water?",
           "MODEL=tiny"]

    before = _run(ask, env, tmp_path)  # the Python qgis_process runs on has no shapely, torch...
    assert before.returncode != 0
    said = before.stdout + before.stderr
    assert "The EarthAsk engine cannot run: its Python" in said and "earthask:setup_engine -- PYTHON=" in said
    assert "Traceback" not in said

    python = default_python()  # the project's venv
    setup = _run(["--json", "run", "earthask:setup_engine", "--", f"PYTHON={python}"], env, tmp_path)
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-4000:]
    results = json.loads(setup.stdout)["results"]
    assert results["PYTHON"] == python and (results["DEVICE"] == "CPU" or results["DEVICE"].startswith("GPU "))

    after = _run(ask, env, tmp_path)
    assert after.returncode == 0, after.stdout[-2000:] + after.stderr[-4000:]
    answer = json.loads(after.stdout)["results"]
    assert answer["SOURCE"] == "measured" and answer["ANSWER"].endswith("%")
