"""Output paths are checked against the inputs before any work, and written atomically with nothing left over."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import rasterio

from core.errors import InputError
from core.outputs import atomic_file, check_output, input_files, replace_or_clean
from tests.rasters import make_raster


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def scene(tmp_path: Path) -> Path:
    return Path(make_raster(tmp_path / "scene.tif", width=32, height=32))


def _vrt_over(source: Path, vrt: Path) -> Path:
    from osgeo import gdal

    gdal.BuildVRT(str(vrt), [str(source)]).FlushCache()
    return vrt


def test_an_input_is_never_an_output_by_any_name(scene: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.tif"
    link.symlink_to(scene)
    hard = tmp_path / "hard.tif"
    os.link(scene, hard)
    before = _sha(scene)
    for given in (scene, link, hard, tmp_path / "." / "scene.tif"):
        with pytest.raises(InputError, match="one of the inputs"):
            check_output(given, "geotiff", input_files(scene))
    assert _sha(scene) == before


def test_a_vrt_s_source_file_is_an_input(scene: Path, tmp_path: Path) -> None:
    vrt = _vrt_over(scene, tmp_path / "mosaic.vrt")
    assert any(os.path.samefile(f, scene) for f in input_files(vrt) if os.path.exists(f))
    with pytest.raises(InputError, match="one of the inputs"):
        check_output(scene, "geotiff", input_files(vrt))


@pytest.mark.parametrize(
    ("name", "fmt", "words"),
    [
        ("", "geotiff", "empty"),
        ("   ", "gpkg", "empty"),
        ("out.gpkg", "geotiff", "must be a GeoTIFF"),
        ("out.tif", "gpkg", "must be a GeoPackage"),
        ("missing/out.tif", "geotiff", "does not exist"),
        ("folder", "geotiff", "is a folder"),
        ("plain.txt", "folder", "is a file"),
    ],
)
def test_bad_output_paths_are_one_sentence(tmp_path: Path, name: str, fmt: str, words: str) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain.txt").write_text("x")
    given = str(tmp_path / name) if name.strip() else name
    with pytest.raises(InputError, match=words):
        check_output(given, fmt)


def test_good_output_paths_come_back_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert check_output("out.TIF", "geotiff") == str(tmp_path / "out.TIF")
    assert check_output("layers.gpkg", "gpkg") == str(tmp_path / "layers.gpkg")
    assert check_output("new_folder", "folder") == str(tmp_path / "new_folder")


def test_atomic_file_renames_on_success_and_removes_everything_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "result.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(str(target)) as tmp:
            Path(tmp).write_text("half")
            Path(tmp + ".aux.xml").write_text("side")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["result.txt"]
    with atomic_file(str(target)) as tmp:
        assert not Path(tmp).exists() and Path(tmp).parent == tmp_path
        Path(tmp).write_text("new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["result.txt"]


def test_a_failed_rename_is_one_sentence_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "taken.tif").mkdir()
    (tmp_path / "taken.tif" / "inside").write_text("keep me")
    tmp = tmp_path / ".partial-1.tif"
    tmp.write_text("half")
    with pytest.raises(InputError, match="Could not write"):
        replace_or_clean(str(tmp), str(tmp_path / "taken.tif"))
    assert not tmp.exists() and (tmp_path / "taken.tif" / "inside").read_text() == "keep me"


def test_segment_onto_its_input_refuses_before_the_model_loads(scene: Path) -> None:
    from core.config import EngineConfig
    from core.engine import Engine

    before = _sha(scene)
    with Engine(EngineConfig(model="tiny", device="cpu", tile=64, overlap=16)) as engine:
        with pytest.raises(InputError, match="one of the inputs"):
            engine.segment(str(scene), out=str(scene))
        assert not engine.model_loaded  # refused before any model loaded
    assert _sha(scene) == before
    with rasterio.open(scene) as ds:
        assert ds.count == 3  # still the imagery, not a class mask
