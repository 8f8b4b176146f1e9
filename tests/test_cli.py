"""The command line: bad input exits 2 with one clear line and no traceback; JSON output parses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from tests.rasters import make_raster

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_raster(tmp_path_factory.mktemp("cli") / "scene.tif", width=64, height=48)


def _bad(tmp_path: Path, scene: str) -> list[tuple[list[str], str]]:
    text = tmp_path / "notes.tif"
    text.write_text("this is not a raster\n")
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(Path(scene).read_bytes()[:600])
    return [
        (["ask", str(tmp_path / "missing.tif"), "q"], "not found"),
        (["ask", str(text), "q"], "raster"),
        (["segment", str(corrupt)], "corrupt"),
        (["ask", scene, "q", "--aoi", "0,0,10,10"], "outside"),
        (["ask", scene, "  "], "empty"),
        (["ask", scene, "q", "--device", "tpu"], "invalid choice"),
        (["ask", scene, "q", "--tile", "64", "--overlap", "64"], "half the tile size"),
        (["ask", scene, "q", "--aoi", "not an aoi"], "aoi"),
    ]


def _exit_code(argv: list[str]) -> int:
    """main() returns the status; argparse errors leave through SystemExit: both count."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_bad_inputs_exit_2_with_one_line(tmp_path: Path, scene: str, capsys: pytest.CaptureFixture) -> None:
    for argv, words in _bad(tmp_path, scene):
        assert _exit_code(argv + ["--model", "tiny", "--quiet"]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, (argv, err)
        assert err.startswith("error: ") and words.lower() in err.lower(), (argv, err)
        assert "Traceback" not in err


def test_cuda_when_absent_is_a_clear_error(scene: str, capsys: pytest.CaptureFixture) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["ask", scene, "q", "--model", "tiny", "--device", "cuda", "--quiet"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_segment_json_in_a_fresh_process(scene: str, tmp_path: Path) -> None:
    out = tmp_path / "mask.tif"
    proc = subprocess.run(
        [sys.executable, "-m", "core", "segment", scene, "--model", "tiny", "--tile", "32", "--overlap", "8",
         "--out", str(out), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["mask_path"] == str(out) and out.is_file()
    assert data["provenance"]["tiles"] == 6  # 64x48 at tile 32, overlap 8: 3 x 2
    assert "Traceback" not in proc.stderr


def test_importing_core_does_not_import_torch() -> None:
    code = "import sys, core, core.engine, core.cli; print('torch' in sys.modules, 'faiss' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["False", "False"], proc.stderr


def test_bands_and_sensor_choose_the_composite_and_are_recorded(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A 6-band ETM+ stack, no band names: --sensor landsat7 reads bands 3,2,1; --bands overrides; a guess says so."""
    etm = make_raster(tmp_path / "etm_stack.tif", width=48, height=48, count=6, dtype="uint16")
    common = ["--model", "tiny", "--tile", "64", "--overlap", "16", "--quiet", "--json"]
    runs = {}
    for name, extra in (("sensor", ["--sensor", "landsat7"]), ("bands", ["--bands", "5,4,3"]), ("guess", [])):
        assert main(["ask", str(etm), "What fraction is water?", *extra, *common]) == 0
        runs[name] = json.loads(capsys.readouterr().out)["provenance"]
    assert runs["sensor"]["band_profile"]["rgb_bands"] == [3, 2, 1]
    assert runs["sensor"]["band_profile"]["detected_from"] == "sensor" and runs["sensor"]["band_profile"]["note"] == ""
    assert runs["bands"]["band_profile"]["rgb_bands"] == [5, 4, 3]
    assert runs["guess"]["band_profile"]["detected_from"] == "band count"
    assert any("pass --sensor or --bands" in n for n in runs["guess"]["notes"])  # the guess is stated
    assert main(["ask", str(etm), "q", "--bands", "3,2,7", "--model", "tiny", "--quiet"]) == 2
    assert "has 6 bands" in capsys.readouterr().err
    assert main(["ask", str(etm), "q", "--sensor", "modis", "--model", "tiny", "--quiet"]) == 2
    assert "Unknown sensor 'modis'" in capsys.readouterr().err
