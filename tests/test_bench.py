"""The benchmark commands on tiny inputs: they run through ``python -m core bench`` and print lines that parse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.cli import main
from tests.rasters import make_raster


def _figures(text: str) -> dict[str, float]:
    """The figures the tiling bench promises, parsed from its output."""
    patterns = {
        "tiles_per_s": r"^tiles/s\s+([\d.]+) end to end$",
        "ceiling": r"^ceiling\s+([\d.]+) tiles/s",
        "efficiency": r"^efficiency: (\d+)% of ceiling$",
        "peak_rss": r"^peak rss\s+(\d+) MiB",
        "tiles": r"^tiles\s+(\d+) of",
    }
    found = {k: re.search(p, text, re.M) for k, p in patterns.items()}
    missing = [k for k, m in found.items() if m is None]
    assert not missing, f"missing {missing} in:\n{text}"
    return {k: float(m.group(1)) for k, m in found.items() if m is not None}


@pytest.mark.parametrize("extra", [["--stand-in"], ["--model", "tiny", "--backend", "torch"]])
def test_bench_tiling_prints_throughput_ceiling_and_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           extra: list[str]) -> None:
    argv = ["bench", "tiling", "--size", "150", "--tile", "64", "--overlap", "16", "--batch-size", "2",
            "--workdir", str(tmp_path), *extra]
    assert main(argv) == 0
    out = capsys.readouterr().out
    f = _figures(out)
    assert f["tiles"] == 9 and f["tiles_per_s"] > 0 and f["ceiling"] > 0 and f["peak_rss"] > 0
    assert abs(f["efficiency"] - 100 * f["tiles_per_s"] / f["ceiling"]) <= 1  # the ratio of the printed figures
    assert ("stand-in" in out) == ("--stand-in" in extra) and ("backend torch" in out) != ("--stand-in" in extra)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench_150.tif"]  # the mask is removed, the scene kept


def test_bench_answer_prints_cold_and_warm(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EARTHASK_CACHE", str(tmp_path / "cache"))
    raster = make_raster(tmp_path / "s.tif", 96, 80, 3)
    assert main(["bench", "answer", "--model", "tiny", "--backend", "torch", "--raster", raster]) == 0
    out = capsys.readouterr().out
    cold = re.search(r"^cold: ([\d.]+) s \(new engine in a fresh process.*; ([\d.]+) s with interpreter start\)$",
                     out, re.M)
    warm = re.search(r"^warm: ([\d.]+) s \(second question on the same engine\)$", out, re.M)
    assert cold and warm, out
    assert float(cold.group(2)) >= float(cold.group(1)) > 0 and float(warm.group(1)) >= 0
    assert "(source measured)" in out and "backend      torch" in out
