"""The change caption: the model's figures are checked against the measured matrix, replaced where they disagree,
and the caption says where it comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.change.caption import check_change_caption, facts_text, find_change_claims
from core.change.compare import compare_masks, noise_floor
from core.change.result import area_text
from tests.change.change_masks import write_masks
from tests.masks import CLASSES


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """Hand masks: forest -> barren 600 m2 (half of the 1,200 m2 of forest), water -> agriculture 600 m2,
    agriculture -> building 400 m2, all reported."""
    folder = tmp_path_factory.mktemp("caption")
    before, after, control = write_masks(folder)
    return compare_masks(before, after, CLASSES, noise_floor(before, control, len(CLASSES), "test"),
                         folder / "change.tif")


def test_the_model_is_given_the_measured_figures(result) -> None:  # noqa: ANN001
    text = facts_text(result)
    assert "forest became barren: 600 m²" in text and "agriculture became building: 400 m²" in text
    assert area_text(result.changed_m2) in text


@pytest.mark.parametrize("said", ["About 600 m² of forest was cleared.", "Half the forest, 0.06 ha, was lost.",
                                  "Forest lost 50% of its area.", "New buildings cover 400 m2 of former fields."])
def test_a_figure_that_matches_the_measurement_is_kept(result, said: str) -> None:  # noqa: ANN001
    got = check_change_caption(said, result)
    assert got["source"] == "checked" and not got["overruled"] and got["caption"] == said
    assert all(f["agrees"] for f in got["figures"])


def test_a_wrong_figure_is_replaced_by_the_measured_one_and_the_model_words_kept(result) -> None:  # noqa: ANN001
    said = "About 2 ha of forest was cleared, and 30% of the area changed."
    got = check_change_caption(said, result)
    assert got["source"] == "checked" and got["overruled"] and got["model_caption"] == said
    claims = find_change_claims(said, result)
    assert [(c.what, c.agrees) for c in claims] == [("forest lost", False), ("changed in all", False)]
    share = 100 * result.changed_m2 / result.compared_m2
    assert got["caption"] == f"About 600 m² of forest was cleared, and {share:.1f}% of the area changed."
    assert "was replaced by the measured 600 m²" in got["explanation"]


def test_words_without_figures_are_the_model_s_and_nothing_is_the_measured_summary(result) -> None:  # noqa: ANN001
    got = check_change_caption("Some forest was cleared and a building appeared.", result)
    assert got["source"] == "model" and got["figures"] == []
    empty = check_change_caption("  ", result)
    assert empty["source"] == "measured" and empty["caption"].startswith("Changed:")


def test_engine_writes_a_checked_caption(tmp_path: Path) -> None:
    from core.config import EngineConfig
    from core.engine import Engine
    from tests.change.test_change_engine import _scene, colour_rule
    from tests.rasters import make_raster

    before = make_raster(tmp_path / "before.tif", data=_scene(False), nodata=0, width=160, height=120)
    after = make_raster(tmp_path / "after.tif", data=_scene(True), nodata=0, width=160, height=120)
    pieces: list[str] = []
    with Engine(EngineConfig(model="tiny", device="cpu", tile=64, overlap=16, max_new_tokens=8)) as eng:
        eng._predict = colour_rule
        r = eng.change(before, after, out=str(tmp_path / "c.tif"), caption=True, on_text=pieces.append)
    c = r.caption
    assert c is not None and c["source"] in ("model", "checked", "measured")
    assert facts_text(r) in c["prompt"]  # the model was given the measured figures
    assert c["model_caption"] == "".join(pieces).strip() or c["source"] == "measured"
    assert r.to_dict()["caption"] == c


def test_a_stated_from_to_change_is_checked_against_the_reported_pairs(result) -> None:  # noqa: ANN001
    said = "Forest became barren land, and farmland became barren land."
    got = check_change_caption(said, result)
    assert got["source"] == "checked" and got["overruled"]
    assert [(f["name"], f["agrees"]) for f in got["figures"]] == [("forest -> barren", True),
                                                                  ("farmland became buildings", False)]
    assert got["caption"] == "Forest became barren land, and farmland became buildings."
    kept = check_change_caption("600 m² of forest turned into barren land.", result)
    assert not kept["overruled"] and len(kept["figures"]) == 2  # the change and its area both agree
