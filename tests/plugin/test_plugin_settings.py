"""Plugin settings over core's one config source: EngineConfig's defaults and limits, saved bad values clamped."""

from __future__ import annotations

import random
from dataclasses import fields
from typing import Any

import pytest
from qgis.core import QgsSettings

from core.config import BACKENDS, DEVICES, TILE_MAX, TILE_MIN, TOKENS_MAX, EngineConfig
from plugin.settings import ENGINE_DEFAULTS, PluginSettings

pytestmark = pytest.mark.qgis
ENGINE_NAMES = {"model", "device", "backend", "tile", "overlap", "semantic_db", "max_new_tokens", "spectral"}


@pytest.fixture(autouse=True)
def forget_saved_values():
    """Keys these tests fill with bad values go afterwards (conftest sets the tiny settings before each test)."""
    yield
    QgsSettings().remove("earthask")


def test_plugin_defaults_are_the_engines() -> None:
    assert PluginSettings().to_engine_config() == EngineConfig()
    assert ENGINE_DEFAULTS == {f.name: f.default for f in fields(EngineConfig)}
    assert set(PluginSettings().engine_settings()) == ENGINE_NAMES  # python, oriented_boxes stay in the plugin


def test_engine_config_gets_the_engine_settings() -> None:
    s = PluginSettings(model="/m", device="cuda:1", backend=BACKENDS[-1], tile=TILE_MAX, overlap=TILE_MAX // 2,
                       semantic_db=" /db ", max_new_tokens=TOKENS_MAX, python="/usr/bin/python3", oriented_boxes=True)
    config = s.to_engine_config()
    assert (config.model, config.device, config.backend, config.tile, config.overlap, config.semantic_db,
            config.max_new_tokens) == ("/m", "cuda:1", BACKENDS[-1], TILE_MAX, TILE_MAX // 2, "/db", TOKENS_MAX)
    assert config.batch_size == EngineConfig().batch_size  # not a plugin setting: core's default


@pytest.mark.parametrize(
    ("key", "saved", "expected"),
    [
        ("tile", 10**6, TILE_MAX),
        ("tile", 5, TILE_MIN),
        ("tile", "-3", TILE_MIN),
        ("tile", "256.0", 256),
        ("tile", "1e400", ENGINE_DEFAULTS["tile"]),
        ("tile", "nan", ENGINE_DEFAULTS["tile"]),
        ("overlap", 10**6, ENGINE_DEFAULTS["tile"] // 2),
        ("overlap", -5, 0),
        ("max_new_tokens", 99999, TOKENS_MAX),
        ("max_new_tokens", 0, 1),
        ("device", "quantum", ENGINE_DEFAULTS["device"]),
        ("device", "cuda:1", "cuda:1"),
        ("device", "cuda:x", ENGINE_DEFAULTS["device"]),
        ("backend", "tensorrt", ENGINE_DEFAULTS["backend"]),
        ("model", "   ", ENGINE_DEFAULTS["model"]),
    ],
)
def test_saved_bad_values_are_clamped_to_cores_limits(key: str, saved: Any, expected: Any) -> None:
    QgsSettings().setValue("earthask/tile", ENGINE_DEFAULTS["tile"])
    QgsSettings().setValue(f"earthask/{key}", saved)
    loaded = PluginSettings.load()
    assert getattr(loaded, key) == expected
    assert getattr(loaded.to_engine_config(), key) == expected  # core accepts what the plugin kept


def test_any_saved_garbage_still_starts() -> None:
    """Seeded random values for every setting, as an old or hand-edited config may hold: loading never fails."""
    rng = random.Random(0)
    pool = [-(10**9), -1, 0, 1, 31, 33, 4097, 10**9, 2.5, "", " ", "x", "1e9", "-0", "cuda:", "cuda:7", "onnx",
            "auto", True, False, *DEVICES, *BACKENDS]
    names = [f.name for f in fields(PluginSettings)]
    for _ in range(60):
        q = QgsSettings()
        for name in names:
            q.setValue(f"earthask/{name}", rng.choice(pool))
        loaded = PluginSettings.load()
        config = loaded.to_engine_config()  # raises InputError if a value slipped past the clamping
        assert TILE_MIN <= config.tile <= TILE_MAX and 0 <= config.overlap <= config.tile // 2
        assert 1 <= config.max_new_tokens <= TOKENS_MAX
    good = PluginSettings(model="/m", device="cuda", python="")
    good.save()  # over whatever was left, of whatever type
    assert PluginSettings.load() == good.validated()


def test_settings_dialog_uses_cores_limits(qtbot) -> None:
    from plugin.settings_dialog import SettingsDialog

    dialog = SettingsDialog(PluginSettings(device="cuda:1"))
    qtbot.addWidget(dialog)
    assert (dialog.tile_spin.minimum(), dialog.tile_spin.maximum()) == (TILE_MIN, TILE_MAX)
    assert (dialog.tokens_spin.minimum(), dialog.tokens_spin.maximum()) == (1, TOKENS_MAX)
    assert [dialog.device_combo.itemText(i) for i in range(len(DEVICES))] == list(DEVICES)
    assert dialog.values().device == "cuda:1"  # a device core accepts beyond the list is kept
    assert dialog.overlap_spin.maximum() == ENGINE_DEFAULTS["tile"] // 2
    dialog.tile_spin.setValue(100)
    assert dialog.overlap_spin.maximum() == 50 and dialog.values().overlap == 50  # half the tile, as core says
    dialog.values().to_engine_config()


def test_rgb_only_is_a_saved_setting_that_reaches_the_engine(qtbot) -> None:
    from plugin.settings_dialog import SettingsDialog

    assert PluginSettings().spectral is True and EngineConfig().spectral is True  # infrared used by default
    dialog = SettingsDialog(PluginSettings())
    qtbot.addWidget(dialog)
    assert dialog.spectral_check.isChecked()
    dialog.spectral_check.setChecked(False)
    chosen = dialog.values()
    assert chosen.to_engine_config().spectral is False  # what --rgb-only does on the command line
    chosen.save()
    QgsSettings().setValue("earthask/spectral", "false")  # as an INI file hands it back
    assert PluginSettings.load().spectral is False


def test_the_output_folder_chosen_in_the_dialog_is_where_results_go(qtbot, tmp_path) -> None:
    from plugin.output_folder import chosen_output_dir, output_dir
    from plugin.settings_dialog import SettingsDialog

    folder = tmp_path / "results"
    folder.mkdir()
    dialog = SettingsDialog(PluginSettings())
    qtbot.addWidget(dialog)
    try:
        dialog.output_edit.setText(f"  {folder}  ")
        dialog.values().save()
        assert chosen_output_dir() == str(folder) == output_dir()
        assert PluginSettings.load().output_dir == str(folder)
        dialog.output_edit.setText("")
        dialog.values().save()
        assert chosen_output_dir() == "" and output_dir() != str(folder)  # back to the default
    finally:
        QgsSettings().remove("earthask/output_dir")
