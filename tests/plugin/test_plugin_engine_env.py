"""The engine process runs on the chosen interpreter's own sys.path, never QGIS's; a Python that cannot run the
engine is one sentence that says how to set it up, in the chat and in every Processing algorithm."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import processing
import pytest
from qgis.core import QgsProcessingException, QgsSettings
from venvs import make_bare_venv, purelib

from core.config import EngineConfig
from core.errors import InputError
from plugin.engine_client import ENGINE_ROOT, EngineHolder, EngineUnavailable, engine_environment
from plugin.tasks import error_sentence

pytestmark = pytest.mark.qgis
HERE = Path(__file__).resolve().parent
CONFIG = EngineConfig(model="tiny", device="cpu")
PROBE = "earthask_probe_pkg"


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory) -> tuple[Path, str]:
    """A venv without system site packages (no numpy, no torch) whose own site-packages holds the probe package."""
    python = make_bare_venv(tmp_path_factory.mktemp("chosen") / "venv")
    site = purelib(python)
    package = Path(site) / PROBE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('ORIGIN = "the chosen interpreter\'s site-packages"\n')
    return python, site


@pytest.fixture
def decoy(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder first on this (QGIS's) sys.path holding a fake ``earthask_probe_pkg`` that shadows the real one."""
    folder = tmp_path / "decoy"
    (folder / PROBE).mkdir(parents=True)
    (folder / PROBE / "__init__.py").write_text('ORIGIN = "the decoy on QGIS\'s sys.path"\n')
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, PROBE, raising=False)
    yield folder
    sys.modules.pop(PROBE, None)


def test_the_engine_process_sees_the_chosen_interpreters_packages_and_not_qgiss_sys_path(bare_venv, decoy) -> None:
    python, site = bare_venv
    import earthask_probe_pkg

    assert earthask_probe_pkg.ORIGIN == "the decoy on QGIS's sys.path"  # here, the decoy shadows the real one
    holder = EngineHolder(factory="path_probe:PathProbe", python=str(python), extra_path=(str(HERE),))
    try:
        seen = holder.call(CONFIG, "where", {"names": ["numpy", "qgis", "path_probe", "core", "models", "plugin",
                                                       "build"]})
    finally:
        holder.shutdown()
    assert seen["probe"] == "the chosen interpreter's site-packages"
    assert seen["executable"] == str(python) and Path(seen["prefix"]) == python.parent.parent
    assert site in seen["sys_path"]
    assert str(decoy) not in seen["sys_path"]
    parent_site = sysconfig.get_paths()["purelib"]  # this process's venv: numpy, torch, pytest...
    assert parent_site not in seen["sys_path"]
    assert seen["modules"]["numpy"] is None  # importable here, not there: the bare venv has none
    assert seen["modules"]["qgis"] is None
    assert seen["sys_path"][0] == str(HERE)  # only the folder the holder names comes first
    for package in ("core", "models"):  # EarthAsk's packages are mounted from the plugin's folder...
        assert Path(seen["modules"][package]) == Path(ENGINE_ROOT) / package / "__init__.py"
    assert ENGINE_ROOT not in seen["sys_path"]  # ...but nothing else beside them can shadow a library
    assert seen["modules"]["plugin"] is None and seen["modules"]["build"] is None
    assert "" not in seen["sys_path"] and "." not in seen["sys_path"]  # not QGIS's working folder either


def test_the_default_interpreter_gets_its_own_site_packages(decoy) -> None:
    """The automatic choice (the build this process runs on; here the project venv) sees its venv, not the decoy."""
    holder = EngineHolder(factory="path_probe:PathProbe", extra_path=(str(HERE),))
    try:
        seen = holder.call(CONFIG, "where", {"names": ["numpy"]})
    finally:
        holder.shutdown()
    assert seen["probe"] is None and str(decoy) not in seen["sys_path"]
    assert seen["modules"]["numpy"] is not None


def test_another_builds_python_runs_without_qgiss_pythonhome_and_pythonpath(monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path) -> None:
    monkeypatch.setenv("PYTHONHOME", "/opt/qgis/apps/Python312")
    monkeypatch.setenv("PYTHONPATH", "/opt/qgis/apps/qgis/python")
    other = tmp_path / "conda" / "bin" / "python"
    other.parent.mkdir(parents=True)
    other.write_text("")
    env = engine_environment(str(other))
    assert "PYTHONHOME" not in env and "PYTHONPATH" not in env
    same = engine_environment(sys.executable)  # the developer's way: QGIS's own build keeps PYTHONPATH
    assert same["PYTHONPATH"] == "/opt/qgis/apps/qgis/python"


def test_a_python_without_the_engines_packages_is_one_sentence_with_the_fix(bare_venv, utm_raster) -> None:
    python, _ = bare_venv
    holder = EngineHolder(python=str(python))
    with pytest.raises(EngineUnavailable) as info:
        holder.call(CONFIG, "ask", {"raster": utm_raster, "question": "How much is water?"})
    holder.shutdown()
    text = str(info.value)
    assert text == (f"The EarthAsk engine cannot run: its Python ({python}) cannot import 'numpy'; set it up from "
                    "the EarthAsk menu (Set up engine…) or with qgis_process run earthask:setup_engine -- "
                    "PYTHON=/path/to/python.")
    assert isinstance(info.value, InputError)  # shown as it is, no traceback in the log
    assert error_sentence(info.value) == text
    assert holder.worker_pid is None


def test_a_missing_interpreter_is_one_sentence_with_the_fix(tmp_path) -> None:
    missing = str(tmp_path / "no" / "python")
    with pytest.raises(EngineUnavailable, match=r"its Python \(.*/no/python\) cannot be started \(No such file"):
        EngineHolder(python=missing).call(CONFIG, "ask", {"raster": "x.tif", "question": "?"})


@pytest.mark.parametrize(("alg", "params"), [
    ("earthask:ask", {"QUESTION": "How much is water?"}),
    ("earthask:segment", {"OUTPUT": "TEMPORARY_OUTPUT"}),
    ("earthask:ground", {"PROMPT": "water", "OUTPUT": "TEMPORARY_OUTPUT"}),
])
def test_every_algorithm_fails_with_one_line_saying_how_to_set_up(bare_venv, utm_raster, alg: str,
                                                                  params: dict) -> None:
    python, _ = bare_venv
    QgsSettings().setValue("earthask/python", str(python))
    try:
        with pytest.raises(QgsProcessingException) as info:
            processing.run(alg, {"RASTER": utm_raster, **params})
    finally:
        QgsSettings().setValue("earthask/python", "")
    message = str(info.value)
    assert "\n" not in message.strip()
    assert "cannot import 'numpy'" in message and "earthask:setup_engine -- PYTHON=" in message


def test_caption_rasters_fails_with_one_line_too(bare_venv, utm_raster) -> None:
    python, _ = bare_venv
    QgsSettings().setValue("earthask/python", str(python))
    try:
        with pytest.raises(QgsProcessingException, match="earthask:setup_engine"):
            processing.run("earthask:caption_rasters", {"INPUT": [utm_raster], "OUTPUT": "memory:"})
    finally:
        QgsSettings().setValue("earthask/python", "")


def test_the_worker_bootstrap_loads_no_plugin_module(bare_venv) -> None:
    """The bootstrap loads engine_worker.py by its path: the plugin package (Qt, QGIS) never enters the engine."""
    from plugin import engine_worker

    python, _ = bare_venv
    code = (engine_worker.BOOTSTRAP.replace("module.main(sys.argv[2:])\n", "")
            + "import json; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('plugin', 'earthask', 'qgis', 'core'))))\n")
    out = subprocess.run([str(python), "-c", code, engine_worker.__file__], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == []
