"""``python -m core change``: JSON with the from-to matrix, a measured answer, and one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio
from affine import Affine

from core.cli import main
from tests.change.test_change_grid import _reprojected
from tests.masks import CLASSES
from tests.rasters import make_raster

TINY = ["--model", "tiny", "--device", "cpu", "--tile", "64", "--overlap", "16", "--quiet"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("change_cli")
    before = make_raster(folder / "before.tif", width=64, height=48, seed=1)
    after = _reprojected(make_raster(folder / "later.tif", width=64, height=48, seed=2), folder / "after.tif",
                         "EPSG:4326", (0.0002, 0.0002))
    return before, after


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_json_has_the_matrix_and_the_outputs(pair: tuple[str, str], tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    out, gpkg = tmp_path / "change.tif", tmp_path / "change.gpkg"
    assert main(["change", *pair, "--out", str(out), "--polygons", str(gpkg), "--json", *TINY]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = data["matrix"]
    assert len(rows) == len(CLASSES) ** 2 and {"from", "to", "area_m2", "share"} <= set(rows[0])
    assert sum(r["area_m2"] for r in rows) == pytest.approx(data["compared_m2"], rel=1e-6)
    assert sum(r["share"] for r in rows) == pytest.approx(1.0, abs=1e-4)
    assert data["source"] == "measured" and "noise" in data and data["noise"]["sentence"]
    assert data["mask_path"] == str(out) and out.is_file() and gpkg.is_file()
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 32618 and "CHANGE_LEGEND" in ds.tags()  # on the first date's grid


def test_question_prints_a_measured_answer(pair: tuple[str, str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    argv = ["change", *pair, "--out", str(tmp_path / "c.tif"), "--question", "did the water area grow?", *TINY]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.startswith("Q: did the water area grow?\nA: ")
    assert "source: measured" in text and "measured from the land-cover maps of the two dates" in text


def test_bad_input_is_one_line_and_exit_2(pair: tuple[str, str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    before, after = pair
    far = make_raster(tmp_path / "far.tif", width=32, height=32,
                      transform=Affine(10.0, 0.0, 535730.0, 0.0, -10.0, 4179460.0))
    cases = [
        (["change", before, after, "--out", before], "one of the inputs"),
        (["change", before, after, "--out", after], "one of the inputs"),
        (["change", before, str(tmp_path / "missing.tif")], "not found"),
        (["change", before, far, "--out", str(tmp_path / "x.tif")], "do not overlap"),
        (["change", before, after, "--out", str(tmp_path / "x.tif"), "--polygons", str(tmp_path / "p.tif")],
         "GeoPackage"),
        (["change", before, after, "--out", str(tmp_path / "x.tif"), "--question", "what is this?"], "class"),
    ]
    before_bytes = Path(before).read_bytes()
    for argv, words in cases:
        assert _code(argv + TINY) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and words in err, (argv, err)
    assert Path(before).read_bytes() == before_bytes  # an input is never overwritten
    assert not (tmp_path / "x.tif").exists()


def test_caption_is_printed_with_its_source_and_in_the_json(pair: tuple[str, str], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    argv = ["change", *pair, "--out", str(tmp_path / "c.tif"), "--caption", *TINY]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.startswith("Caption: ") and "   source: " in text.splitlines()[1]
    assert main(argv + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["caption"]["source"] in ("model", "checked", "measured") and "caption" in data["caption"]
