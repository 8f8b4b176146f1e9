"""Tests for core.semantic_db with real faiss: exact, IVF and HNSW search, level filter, save/load."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from core.errors import InputError
from core.semantic_db import SemanticDB, default_nlist

LEVELS = ("scene", "region", "object")


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _clustered(n: int, dim: int, seed: int = 0, centres_seed: int = 0) -> np.ndarray:
    """Unit vectors around 50 centres: embeddings of texts are clustered like this, not uniform.

    Another ``centres_seed`` gives queries that fall between the database's clusters (out of distribution).
    """
    centres = np.random.default_rng(centres_seed).normal(size=(50, dim))
    rng = np.random.default_rng(seed)
    return _unit(centres[rng.integers(0, 50, n)] + 0.3 * rng.normal(size=(n, dim)))


def _db(vectors: np.ndarray, index_type: str = "flat", **kw) -> SemanticDB:
    n = len(vectors)
    texts = [f"text {i}" for i in range(n)]
    return SemanticDB.build(texts, [LEVELS[i % 3] for i in range(n)], vectors, index_type, **kw)


def _exact_ids(vectors: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> np.ndarray:
    sims = _unit(queries) @ vectors.T
    if allowed is not None:
        sims[:, ~allowed] = -np.inf
    return np.argsort(-sims, axis=1)[:, :k]


def _recall(db: SemanticDB, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    truth = _exact_ids(vectors, queries, k)
    got = [[int(r.text.split()[1]) for r in row] for row in db.search(queries, k)]
    return float(np.mean([len(set(t) & set(g)) / k for t, g in zip(truth, got)]))


def test_exact_search_returns_the_known_nearest_with_cosine_scores() -> None:
    rng = np.random.default_rng(0)
    vectors = _unit(rng.normal(size=(500, 16)))
    db = _db(vectors * 3.0)  # stored vectors are normalised whatever their length
    queries = vectors[[7, 123]] + 0.01 * rng.normal(size=(2, 16))
    hits = db.search(queries * 5.0, k=3)
    assert [row[0].text for row in hits] == ["text 7", "text 123"]
    cos = _unit(queries) @ vectors.T
    for q, row in enumerate(hits):
        expected = np.sort(cos[q])[::-1][:3]
        np.testing.assert_allclose([r.score for r in row], expected, rtol=1e-5)
        assert row[0].level == LEVELS[[7, 123][q] % 3]
    assert len(db.search(vectors[0], k=1)) == 1  # a single [D] query
    assert _recall(db, vectors, queries, k=10) == 1.0


def test_ivf_recall_vs_exact() -> None:
    vectors = _clustered(5000, 32)
    db = _db(vectors, "ivf")
    assert db.index.nlist == default_nlist(5000) == 128 and db.nprobe == 8
    assert _recall(db, vectors, _clustered(200, 32, seed=1)) >= 0.95  # default nprobe, clustered data
    between = _clustered(200, 32, seed=1, centres_seed=1)  # queries that fall between the clusters
    assert _recall(db, vectors, between) >= 0.9
    uniform = _unit(np.random.default_rng(2).normal(size=(5000, 32)))  # the hard case for any ANN index
    db_all = _db(uniform, "ivf")
    db_all.nprobe = db_all.index.nlist  # visiting every list is exact
    assert _recall(db_all, uniform, uniform[:100]) == 1.0


def test_hnsw_recall_vs_exact() -> None:
    uniform = _unit(np.random.default_rng(3).normal(size=(5000, 32)))
    queries = _unit(np.random.default_rng(4).normal(size=(200, 32)))
    assert _recall(_db(uniform, "hnsw"), uniform, queries) >= 0.95
    vectors = _clustered(5000, 32)
    db = _db(vectors, "hnsw")
    assert _recall(db, vectors, _clustered(200, 32, seed=1)) >= 0.95
    assert _recall(db, vectors, _clustered(200, 32, seed=1, centres_seed=1)) >= 0.95  # between clusters


@pytest.mark.parametrize("index_type", ["flat", "ivf", "hnsw"])
def test_level_filter_returns_the_top_k_of_that_level(index_type: str) -> None:
    vectors = _clustered(3000, 24)
    queries = _clustered(20, 24, seed=5)
    db = _db(vectors, index_type)
    allowed = np.array([LEVELS[i % 3] == "region" for i in range(len(vectors))])
    truth = _exact_ids(vectors, queries, 5, allowed)
    hits = db.search(queries, k=5, level="region")
    assert all(r.level == "region" for row in hits for r in row)
    got = [[int(r.text.split()[1]) for r in row] for row in hits]
    recall = np.mean([len(set(t) & set(g)) / 5 for t, g in zip(truth, got)])
    assert recall >= (1.0 if index_type == "flat" else 0.9)
    two = db.search(queries, 5, level=["scene", "object"])
    assert all(r.level in ("scene", "object") for row in two for r in row)
    assert db.search(queries[:2], k=5, level="nonexistent") == [[], []]


@pytest.mark.parametrize("index_type", ["flat", "ivf", "hnsw"])
def test_save_load_round_trip(tmp_path, index_type: str) -> None:
    vectors = _clustered(1000, 16)
    texts, ids = [f"t{i} é" for i in range(1000)], [str(i) for i in range(1000)]
    db = SemanticDB.build(texts, "scene", vectors, index_type, sources=["earthvqa"] * 1000, ids=ids,
                          model_id="minilm-test")
    db.save(tmp_path / "db")
    files = sorted(p.name for p in (tmp_path / "db").iterdir())
    assert files == ["entries.jsonl", "index.faiss", "meta.json"]
    meta = json.loads((tmp_path / "db" / "meta.json").read_text())
    assert meta["dim"] == 16 and meta["count"] == 1000 and meta["index_type"] == index_type
    assert meta["model_id"] == "minilm-test" and meta["created"].endswith("Z")
    loaded = SemanticDB.load(tmp_path / "db", expected_dim=16)
    assert loaded.entries == db.entries and loaded.nprobe == db.nprobe and loaded.model_id == "minilm-test"
    queries = vectors[:10]
    assert loaded.search(queries, k=5) == db.search(queries, k=5)


def test_dimension_mismatch_and_bad_inputs(tmp_path) -> None:
    db = _db(_clustered(100, 16))
    with pytest.raises(InputError, match="dimension 8 but the database has 16"):
        db.search(np.ones((1, 8), np.float32))
    db.save(tmp_path / "db")
    with pytest.raises(InputError, match="16-dimensional embeddings but the model makes 32"):
        SemanticDB.load(tmp_path / "db", expected_dim=32)
    with pytest.raises(InputError, match="zero or non-finite"):
        SemanticDB.build(["a"], "scene", np.zeros((1, 4)))
    with pytest.raises(InputError, match="must match"):
        SemanticDB.build(["a", "b"], "scene", np.ones((3, 4)))
    with pytest.raises(InputError, match="Unknown index type"):
        SemanticDB.build(["a"], "scene", np.ones((1, 4)), "lsh")


def test_load_reports_missing_and_corrupt_files(tmp_path) -> None:
    with pytest.raises(InputError, match="has no meta.json"):
        SemanticDB.load(tmp_path / "nowhere")
    path = tmp_path / "db"
    _db(_clustered(100, 16)).save(path)
    (path / "index.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(InputError, match="corrupt index.faiss"):
        SemanticDB.load(path)
    _db(_clustered(100, 16)).save(path)
    with open(path / "entries.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "extra", "level": "scene"}) + "\n")
    with pytest.raises(InputError, match="inconsistent"):
        SemanticDB.load(path)
    (path / "meta.json").write_text("{not json")
    with pytest.raises(InputError, match="unreadable meta.json"):
        SemanticDB.load(path)


def test_importing_core_does_not_import_faiss_or_torch() -> None:
    code = ("import sys, core.semantic_db, core.geo, core.stats; "
            "print(sorted({'faiss', 'torch'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
