"""Build a semantic database from a JSONL of descriptions with the model's retriever text tower."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.errors import InputError
from core.progress import CancelledFn, ProgressFn, check_cancelled, no_progress


def read_texts(path: str) -> tuple[list[str], list[str]]:
    """``(texts, levels)`` from a JSONL file of ``{"text": ..., "level": ...}`` objects."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"Descriptions file not found: {file}")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{file} is not a UTF-8 text file of JSON lines.") from None
    except OSError as e:
        raise InputError(f"Cannot read {file}: {e.strerror or e}.") from None
    texts, levels = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            texts.append(str(row["text"]))
            levels.append(str(row.get("level", "scene")))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{file}:{n} is not a JSON object with a 'text' field.") from exc
        if not texts[-1].strip():
            raise InputError(f"{file}:{n} has an empty 'text'.")
    if not texts:
        raise InputError(f"{file} holds no descriptions.")
    return texts, levels


def build_from_jsonl(texts_jsonl: str, out_dir: str, engine: Any, index_type: str = "flat",
                     progress: Optional[ProgressFn] = None, cancelled: Optional[CancelledFn] = None,
                     batch: int = 64) -> str:
    """Embed every description (L2-normalised) and save a :class:`core.semantic_db.SemanticDB`."""
    import torch

    from core.semantic_db import SemanticDB

    report = progress or no_progress
    texts, levels = read_texts(texts_jsonl)
    model = engine.loaded.model
    chunks = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            check_cancelled(cancelled)
            chunks.append(model.embed_text(texts[i : i + batch]).float().cpu().numpy())
            report(min(i + batch, len(texts)) / len(texts), f"embedded {min(i + batch, len(texts))}/{len(texts)}")
    db = SemanticDB.build(texts, levels, np.concatenate(chunks), index_type=index_type,
                          model_id=engine.loaded.model_id)
    return db.save(out_dir)


def build_semantic_db(texts_jsonl: str, out_dir: str, config: Any, index_type: str = "flat",
                      progress: Optional[ProgressFn] = None, cancelled: Optional[CancelledFn] = None) -> str:
    """Embed a JSONL of ``{"text", "level"}`` with the model's retriever text tower into a faiss database
    in ``out_dir``; the descriptions and the folder are checked before the model loads."""
    from core.engine import Engine
    from core.outputs import check_output

    read_texts(texts_jsonl)
    out = check_output(out_dir, "folder", [texts_jsonl])
    with Engine(config) as engine:
        return build_from_jsonl(texts_jsonl, out, engine, index_type, progress, cancelled)
