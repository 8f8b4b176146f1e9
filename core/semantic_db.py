"""Semantic database: multi-level text descriptions with L2-normalised embeddings in a faiss index."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Optional, Union

import numpy as np

from core.errors import InputError
from core.results import Retrieved

INDEX_TYPES = ("flat", "ivf", "hnsw")
FORMAT_VERSION = 1
INDEX_FILE, ENTRIES_FILE, META_FILE = "index.faiss", "entries.jsonl", "meta.json"


@dataclass
class Entry:
    """One description in the database."""

    text: str
    level: str  # "scene", "region", "object", ...
    source: str = ""  # where the text came from (dataset, image path...)
    id: str = ""  # the source's own identifier, if any


def _normalise(x: Any, name: str) -> np.ndarray:
    """float32 [N, D] rows scaled to unit L2 norm; InputError on a wrong shape or a zero/non-finite row."""
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"The {name} must be a non-empty [N, D] array, got shape {arr.shape}.")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise InputError(f"The {name} hold a zero or non-finite vector, which has no direction to compare.")
    return np.ascontiguousarray(arr / norms, dtype=np.float32)


def default_nlist(count: int) -> int:
    """IVF lists for ``count`` vectors: 4*sqrt(N), at most N/39 so k-means has 39 points a centroid."""
    return max(1, min(int(4 * math.sqrt(count)), count // 39))


def default_nprobe(nlist: int) -> int:
    """IVF lists visited per query: nlist/16, at least 8 (all when fewer)."""
    return min(nlist, max(8, nlist // 16))


class SemanticDB:
    """Descriptions at several semantic levels, searched by cosine similarity of embeddings."""

    def __init__(self, index: Any, entries: list[Entry], index_type: str = "flat", model_id: str = "",
                 nprobe: int = 1, ef_search: int = 128) -> None:
        self.index = index  # a faiss index with inner-product metric over unit vectors
        self.entries = entries
        self.index_type = index_type
        self.model_id = model_id  # the embedding model the vectors came from
        self.nprobe = nprobe  # IVF only
        self.ef_search = ef_search  # HNSW only
        self._levels = np.array([e.level for e in entries], dtype=object)

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.index.d)

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def build(
        cls,
        texts: Sequence[str],
        levels: Union[str, Sequence[str]],
        embeddings: Any,
        index_type: str = "flat",
        sources: Optional[Sequence[str]] = None,
        ids: Optional[Sequence[str]] = None,
        model_id: str = "",
        nlist: Optional[int] = None,
        nprobe: Optional[int] = None,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
    ) -> SemanticDB:
        """Build a database from texts, their levels (one per text, or one for all) and embeddings [N, D].

        ``index_type``: "flat" (exact inner product), "ivf" (IndexIVFFlat, ``nlist`` lists trained on the
        vectors, ``nprobe`` visited per query) or "hnsw" (IndexHNSWFlat, ``hnsw_m`` links a node,
        ``ef_construction``/``ef_search`` candidate lists: faiss's default 40 loses recall on queries that
        fall between clusters, as text queries against image-derived descriptions do).
        """
        import faiss

        if index_type not in INDEX_TYPES:
            raise InputError(f"Unknown index type {index_type!r}; use one of {', '.join(INDEX_TYPES)}.")
        vectors = _normalise(embeddings, "embeddings")
        n, dim = vectors.shape
        levels = [levels] * n if isinstance(levels, str) else list(levels)
        sources, ids = list(sources or [""] * n), list(ids or [""] * n)
        if not (len(texts) == len(levels) == len(sources) == len(ids) == n):
            raise InputError(f"Got {len(texts)} texts, {len(levels)} levels, {len(sources)} sources, "
                             f"{len(ids)} ids and {n} embeddings; they must match.")
        entries = [Entry(str(t), str(lv), str(s), str(i)) for t, lv, s, i in zip(texts, levels, sources, ids)]
        lists = min(nlist or default_nlist(n), n)
        if index_type == "flat":
            index = faiss.IndexFlatIP(dim)
        elif index_type == "ivf":
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
            index.train(vectors)
        else:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
        index.add(vectors)
        return cls(index, entries, index_type, model_id, nprobe or default_nprobe(lists), ef_search)

    def search(
        self, query_embeddings: Any, k: int = 5, level: Union[str, Sequence[str], None] = None
    ) -> list[list[Retrieved]]:
        """The ``k`` most similar entries for each query [B, D] (or [D]), best first; cosine scores.

        ``level`` keeps only entries of that level (or those levels); the filter is applied inside the
        index search (faiss IDSelector), so filtered results are still the top k of that level.
        """
        import faiss

        if k <= 0:
            raise InputError(f"k must be at least 1, got {k}.")
        queries = np.asarray(query_embeddings, dtype=np.float32)
        got = queries.shape[-1] if queries.ndim in (1, 2) else -1
        if got != self.dim:
            raise InputError(f"The query embeddings have dimension {got} but the database has {self.dim}.")
        queries = _normalise(queries, "query embeddings")
        selector = None
        if level is not None:
            wanted = [level] if isinstance(level, str) else list(level)
            allowed = np.flatnonzero(np.isin(self._levels, wanted)).astype(np.int64)
            if len(allowed) == 0:
                return [[] for _ in range(len(queries))]
            selector = faiss.IDSelectorBatch(allowed)
        if self.index_type == "ivf":
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)
        elif self.index_type == "hnsw":
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(self.ef_search, k))
        else:
            params = faiss.SearchParameters(sel=selector)
        scores, idx = self.index.search(queries, min(k, len(self.entries)), params=params)
        hits = self.entries
        return [[Retrieved(hits[i].text, float(s), hits[i].level) for s, i in zip(row_s, row_i) if i >= 0]
                for row_s, row_i in zip(scores, idx)]

    def save(self, directory: Union[str, os.PathLike]) -> str:
        """Write ``index.faiss``, ``entries.jsonl`` and ``meta.json`` (last) into ``directory``."""
        import faiss

        from core.outputs import atomic_file

        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        with atomic_file(os.path.join(directory, INDEX_FILE)) as tmp:
            faiss.write_index(self.index, tmp)
        with atomic_file(os.path.join(directory, ENTRIES_FILE)) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            for entry in self.entries:
                fh.write(json.dumps(asdict(entry), ensure_ascii=False) + "\n")
        meta = {
            "format_version": FORMAT_VERSION, "dim": self.dim, "index_type": self.index_type,
            "metric": "inner_product", "model_id": self.model_id, "count": len(self.entries),
            "nprobe": self.nprobe, "ef_search": self.ef_search,
            "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        with atomic_file(os.path.join(directory, META_FILE)) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2)
        return directory

    @classmethod
    def load(cls, directory: Union[str, os.PathLike], expected_dim: Optional[int] = None) -> SemanticDB:
        """Read a database written by :meth:`save`; InputError (one sentence) when it is missing or broken.

        ``expected_dim``: the embedding dimension of the model that will query it (checked when given).
        """
        import faiss

        directory = os.fspath(directory)
        where = f"The semantic database {directory}"
        for name in (META_FILE, INDEX_FILE, ENTRIES_FILE):
            if not os.path.isfile(os.path.join(directory, name)):
                raise InputError(f"{where} has no {name}; build it with 'python -m core index'.")
        try:
            with open(os.path.join(directory, META_FILE), encoding="utf-8") as fh:
                meta = json.load(fh)
            dim, count, index_type = int(meta["dim"]), int(meta["count"]), str(meta["index_type"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{where} has an unreadable {META_FILE} ({exc}).") from exc
        if index_type not in INDEX_TYPES:
            raise InputError(f"{where} has an unknown index type {index_type!r}.")
        try:
            index = faiss.read_index(os.path.join(directory, INDEX_FILE))
        except RuntimeError as exc:
            raise InputError(f"{where} has a corrupt {INDEX_FILE}.") from exc
        try:
            with open(os.path.join(directory, ENTRIES_FILE), encoding="utf-8") as fh:
                entries = [Entry(**json.loads(line)) for line in fh if line.strip()]
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"{where} has an unreadable {ENTRIES_FILE}.") from exc
        if index.d != dim:
            raise InputError(f"{where} index has dimension {index.d}, meta says {dim}.")
        if not (index.ntotal == count == len(entries)):
            raise InputError(f"{where} is inconsistent: {index.ntotal} vectors, "
                             f"{len(entries)} entries, meta count {count}.")
        if expected_dim is not None and expected_dim != dim:
            raise InputError(f"{where} holds {dim}-dimensional embeddings but the model makes "
                             f"{expected_dim}-dimensional ones; rebuild it with this model.")
        return cls(index, entries, index_type, str(meta.get("model_id", "")),
                   int(meta.get("nprobe", 1)), int(meta.get("ef_search", 128)))
