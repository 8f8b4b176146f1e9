"""Procedural before/after pairs: four known edits, an exact from-to truth, and unchanged pixels left alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy import ndimage

from core.data.pairs import CLASSES, EDITS, make_pair
from core.data.procedural import C


@pytest.fixture(scope="module")
def pair():  # noqa: ANN201
    return make_pair(1, size=1024)


def test_every_edit_is_made_with_its_from_to(pair) -> None:  # noqa: ANN001
    assert set(pair.edits) == set(EDITS)
    got = {e["edit"]: {(p["from"], p["to"]) for p in e["pairs"]} for e in pair.edit_truth()}
    assert got["pond drained"] == {("water", "barren")}
    assert got["forest cleared"] == {("forest", "barren")}
    assert {t for _, t in got["buildings added"]} == {"building"}
    assert got["farmland to housing"] == {("agriculture", "background"), ("agriculture", "building")}
    for name, sel in pair.edits.items():
        assert sel.any() and (pair.before.mask[sel] != pair.after.mask[sel]).all(), name


def test_truth_is_exact_and_only_the_edits_changed(pair) -> None:  # noqa: ANN001
    edited = np.zeros(pair.before.mask.shape, dtype=bool)
    for sel in pair.edits.values():
        assert not (edited & sel).any()  # edits do not overlap
        edited |= sel
    assert (pair.before.mask[~edited] == pair.after.mask[~edited]).all()
    truth = pair.truth()
    off = truth.sum() - np.trace(truth)
    assert off == pytest.approx(edited.sum() * pair.pixel_m2)
    assert truth.sum() == pytest.approx(pair.before.mask.size * pair.pixel_m2)
    assert sum(e["area_m2"] for e in pair.edit_truth()) == pytest.approx(off, rel=1e-6)


def test_second_image_is_the_first_outside_the_edits_and_shadows(pair) -> None:  # noqa: ANN001
    edited = np.zeros(pair.before.mask.shape, dtype=bool)
    for sel in pair.edits.values():
        edited |= sel
    near = pair.repainted
    assert near is not None and (near | ~ndimage.binary_dilation(edited, iterations=2)).all()  # edits repainted
    reach = ndimage.binary_dilation(edited, iterations=40)
    assert not (near & ~reach).any()  # repainting stays within a shadow's length of an edit
    b, a = pair.before.image, pair.after.image
    assert (b[:, ~near] == a[:, ~near]).all()
    assert np.abs(b[:, edited].astype(int) - a[:, edited]).mean() > 10  # the edits are visible
    new = pair.edits["buildings added"]
    ring = ndimage.binary_dilation(new, iterations=6) & ~ndimage.binary_dilation(new, iterations=1)
    darker = b[:, ring].astype(int).sum(axis=0) - a[:, ring].astype(int).sum(axis=0)
    assert (darker > 60).mean() > 0.05  # new buildings cast shadows on the ground beside them


def test_pairs_command_writes_rasters_and_truth(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from core.data.__main__ import main

    assert main(["pairs", "--out", str(tmp_path), "--count", "1", "--size", "1024", "--seed", "1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    folder = tmp_path / printed[0]["name"]
    meta = json.loads((folder / "truth.json").read_text())
    assert meta["classes"] == CLASSES and {e["edit"] for e in meta["edits"]} == set(EDITS)
    with rasterio.open(folder / "before.tif") as b, rasterio.open(folder / "after.tif") as a:
        assert b.crs == a.crs and b.crs.is_projected and b.transform == a.transform and b.count == 3
    with rasterio.open(folder / "before_truth.tif") as bt, rasterio.open(folder / "after_truth.tif") as at:
        x, y = bt.read(1).astype(int), at.read(1)
    area = sum(m["area_m2"] for m in meta["matrix"] if m["from"] != m["to"])
    assert area == pytest.approx((x != y).sum() * meta["gsd_m"] ** 2, rel=1e-4)


def test_a_repainted_edit_keeps_the_colour_and_contrast_of_its_class_on_the_first_date() -> None:
    """Pair 3's pond is its only water, so the second rendering draws no water layer and its random textures
    differ from the first's everywhere; the brightness match must still give the drained pond the first date's
    barren colour and contrast (a least-squares fit shrank the green band's contrast to 0.43 and tinted it)."""
    pair = make_pair(3, size=1024)
    assert not (pair.after.mask == C["water"]).any()
    pond = pair.edits["pond drained"]
    bare = (pair.before.mask == C["barren"]) & ~pond
    drained, ground = pair.after.image[:, pond].astype(float), pair.before.image[:, bare].astype(float)
    assert np.abs(drained.mean(axis=1) - ground.mean(axis=1)).max() < 4  # grey levels, per band
    ratio = drained.std(axis=1) / ground.std(axis=1)
    assert ((ratio > 0.8) & (ratio < 1.25)).all(), ratio
