"""The procedural benchmark: determinism, scene splits, answers and boxes that agree with the masks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from core.data import QUESTION_TYPES, SPLITS, Manifest
from core.data.build import build
from core.data.questions import AREA_BINS, NOUNS
from models.config import EARTHVQA_CLASSES

SCENES = 6
PLURAL_TO_CLASS = {v[1]: k for k, v in NOUNS.items()}
GRID = (("north-west", "north", "north-east"), ("west", "centre", "east"), ("south-west", "south", "south-east"))


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    out = tmp_path_factory.mktemp("bench") / "b"
    build(out, seed=3, scenes=SCENES, size=128, real=False)
    return Manifest(out)


def _all(m: Manifest, task: str) -> list:
    return [r for s in SPLITS for r in m.records(task, s)]


def _scene_arrays(m: Manifest, scene: str) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    seg = next(r for r in _all(m, "seg") if r.scene == scene)
    boxes = next(r for r in _all(m, "boxes") if r.scene == scene)
    labels = {i["id"]: i["label"] for i in boxes.instances}
    return m.load_mask(seg.mask), m.load_instances(seg.instances), labels


def bench_gsd(m: Manifest, image: str) -> float:
    from core.data.files import read_geo

    return read_geo(m.path(image))[1][0]


def _cell(col: float, row: float, w: int, h: int) -> str:
    return GRID[min(int(3 * row / h), 2)][min(int(3 * col / w), 2)]


def test_same_seed_gives_identical_files(bench: Manifest, tmp_path: Path) -> None:
    again = tmp_path / "again"
    build(again, seed=3, scenes=SCENES, size=128, real=False)
    files = sorted(p.relative_to(bench.root) for p in bench.root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        if rel.suffix in (".jsonl", ".json") or rel.parts[0] == "masks":
            assert (bench.root / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "other"
    build(other, seed=4, scenes=SCENES, size=128, real=False)
    assert (other / "train" / "vqa.jsonl").read_bytes() != (again / "train" / "vqa.jsonl").read_bytes()


def test_meta_and_api(bench: Manifest) -> None:
    assert bench.classes == EARTHVQA_CLASSES
    assert "DERIVED" in bench.meta["labels"]
    assert sum(bench.meta["counts"][s]["scenes"] for s in SPLITS) == SCENES
    rec = bench.records("vqa", "train")[0]
    x = bench.load_image(rec.image)
    assert x.dtype == np.float32 and x.shape == (3, 128, 128) and 0.0 <= x.min() and x.max() <= 1.0
    mask = bench.load_mask(bench.records("seg", "train")[0].mask)
    assert mask.dtype == np.uint8 and mask.shape == (128, 128) and mask.max() < len(EARTHVQA_CLASSES)
    assert {r.type for r in _all(bench, "vqa")} == set(QUESTION_TYPES)
    assert bench.semantic_db() and {e.level for e in bench.semantic_db()} <= {"scene", "region", "object"}


def test_splits_are_by_scene(bench: Manifest) -> None:
    seen: dict[str, str] = {}
    for split in SPLITS:
        for task in ("vqa", "ground", "caption", "classify", "seg", "boxes"):
            for r in bench.records(task, split):
                assert seen.setdefault(r.scene, split) == split, f"{r.scene} in {seen[r.scene]} and {split}"
                assert r.image == f"images/{r.scene}.tif"
    assert {seen[s] for s in seen} == set(SPLITS)
    train = {s for s, sp in seen.items() if sp == "train"}
    assert {e.scene for e in bench.semantic_db()} <= train


def test_multiple_choice_and_values(bench: Manifest) -> None:
    for r in _all(bench, "vqa"):
        if r.choices is not None:
            assert r.answer in r.choices and 2 <= len(r.choices) <= 4 and len(set(r.choices)) == len(r.choices)
            if r.type not in ("basic_judging", "reasoning_judging"):
                assert len(r.choices) >= 3, r
        if r.type == "basic_counting":
            assert r.answer_value == float(int(r.answer))
        if r.answer in AREA_BINS:
            assert r.answer_value == 10 * AREA_BINS.index(r.answer) + 5


def test_answers_agree_with_masks(bench: Manifest) -> None:
    checked: set[str] = set()
    for r in _all(bench, "vqa"):
        mask, inst, labels = _scene_arrays(bench, r.scene)
        frac = {c: float(np.mean(mask == i)) for i, c in enumerate(EARTHVQA_CLASSES)}
        q = r.question
        if m := re.fullmatch(r"(?:How many (\w+) are (?:there|in this image)|What is the number of (\w+))\?", q):
            cls = PLURAL_TO_CLASS[m.group(1) or m.group(2)]
            ids = [i for i, lab in labels.items() if lab == cls and (inst == i).any()]
            comps = ndimage.label(mask == EARTHVQA_CLASSES.index(cls), structure=np.ones((3, 3)))[1]
            assert int(r.answer) == len(ids) == comps, q
        elif m := re.fullmatch(r"How many buildings are in the ([\w-]+) of the image\?", q):
            n = 0
            for i, lab in labels.items():
                if lab == "building":
                    rows, cols = np.nonzero(inst == i)
                    n += _cell(cols.mean() + 0.5, rows.mean() + 0.5, mask.shape[1], mask.shape[0]) == m.group(1)
            assert int(r.answer) == n, q
        elif m := re.fullmatch(r"What (?:is the area ratio of|percentage of the area is|proportion of the image is "
                               r"covered by) ([\w ]+)\?", q):
            f = frac[PLURAL_TO_CLASS[m.group(1)]]
            assert r.answer == AREA_BINS[min(int(f * 10), 9)], (q, f)
        elif m := re.fullmatch(r"(?:Are there any|Are there|Is there a|Is there any|Does the image contain|Is there) "
                               r"([\w ]+?)(?: in this scene| in the image| in this image| in this area)?\?", q):
            cls = PLURAL_TO_CLASS.get(m.group(1)) or {v[0]: k for k, v in NOUNS.items()}.get(m.group(1))
            if cls is None:
                continue
            assert r.answer == ("yes" if frac[cls] >= 0.002 else "no"), (q, frac[cls])
        elif q.startswith("Is this a rural or urban") or q.startswith("Is it an urban or a rural"):
            assert r.answer == ("urban" if frac["building"] + frac["road"] >= 0.2 else "rural")
        elif m := re.fullmatch(r"Where (?:is|are) the ([\w ]+?)(?: located)?\?", q):
            if m.group(1).startswith("largest "):
                cls = m.group(1).split()[1]
                ids = [i for i, lab in labels.items() if lab == cls]
                sel = inst == max(ids, key=lambda i: int((inst == i).sum()))
            else:
                cls = PLURAL_TO_CLASS.get(m.group(1)) or {v[0]: k for k, v in NOUNS.items()}[m.group(1)]
                sel = mask == EARTHVQA_CLASSES.index(cls)
            rows, cols = np.nonzero(sel)
            assert r.answer == _cell(cols.mean() + 0.5, rows.mean() + 0.5, mask.shape[1], mask.shape[0]), q
        elif m := re.fullmatch(r"(?:Are|Is) there ([\w ]+?) near the ([\w ]+)\?", q):
            a, b = (EARTHVQA_CLASSES.index(PLURAL_TO_CLASS[g]) for g in m.groups())
            gsd = abs(bench_gsd(bench, r.image))
            d = ndimage.distance_transform_edt(mask != a)[mask == b].min() * gsd if (mask == a).any() else np.inf
            assert r.answer == ("yes" if d < max(20.0, 10 * gsd) else "no"), (q, d)
        else:
            continue
        checked.add(q.split()[0] + " " + q.split()[1])
    assert {"How many", "What is", "Is this", "Where is", "Are there"} <= checked, checked


def test_boxes_match_instances(bench: Manifest) -> None:
    for rec in _all(bench, "boxes"):
        mask, inst, _ = _scene_arrays(bench, rec.scene)
        for i in rec.instances:
            x1, y1, x2, y2 = i["box"]
            assert 0 <= x1 < x2 <= rec.width and 0 <= y1 < y2 <= rec.height
            rows, cols = np.nonzero(inst == i["id"])
            assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == (x1, y1, x2, y2)
            assert np.all(mask[inst == i["id"]] == EARTHVQA_CLASSES.index(i["label"]))
            assert len(rows) == i["area_px"]


def test_expressions_point_at_instances(bench: Manifest) -> None:
    grounds = _all(bench, "ground")
    assert grounds
    for g in grounds:
        boxes = next(r for r in _all(bench, "boxes") if r.scene == g.scene)
        by_box = {tuple(i["box"]): i for i in boxes.instances}
        assert g.boxes and len(g.boxes) == len(g.boxes_999)
        for b, n in zip(g.boxes, g.boxes_999):
            assert tuple(int(v) for v in b) in by_box and by_box[tuple(int(v) for v in b)]["label"] == g.label
            assert n == [round(b[0] / g.width * 999), round(b[1] / g.height * 999),
                         round(b[2] / g.width * 999), round(b[3] / g.height * 999)]
        if g.expression.startswith("the largest ") and " in the " not in g.expression:
            same = [i["area_px"] for i in boxes.instances if i["label"] == g.label]
            assert by_box[tuple(int(v) for v in g.boxes[0])]["area_px"] == max(same)
