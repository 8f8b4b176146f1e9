"""Retrieved descriptions for training and evaluation samples, from the manifest's semantic database.

The database is ``semantic_db.jsonl`` (descriptions of training scenes at several levels). Each image gets
the ``k`` descriptions whose retriever embeddings are closest to its own, leaving out those of its own
scene: in training they would hand the model its target caption; test scenes are not in the database.
Exact cosine search in torch (the engine uses the faiss ``core.semantic_db`` at inference; same scores).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from core.train.data import resize


@torch.no_grad()
def embed_texts(model: Any, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """``model.embed_text`` in batches -> ``[N, D]`` on CPU."""
    out = [model.embed_text(list(texts[i:i + batch_size])).float().cpu() for i in range(0, len(texts), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, 0)


@torch.no_grad()
def retrieve_for_images(model: Any, manifest: Any, images: dict[str, str], k: int, device: str = "cpu",
                        batch_size: int = 16) -> dict[str, list[str]]:
    """image path -> its ``k`` nearest descriptions (other scenes only), best first.

    Args:
        images: image path -> its scene id.
        k: descriptions per image (``cfg.retriever_top_k``); an empty database gives empty lists.
    """
    entries = manifest.semantic_db()
    if not entries or k <= 0 or not images:
        return {p: [] for p in images}
    was_training = model.training
    model.eval()
    db = embed_texts(model, [e.text for e in entries])  # [N, D]
    db_scenes = [e.scene for e in entries]
    size = model.cfg.vision_image_size
    paths = sorted(images)
    out: dict[str, list[str]] = {}
    for i in range(0, len(paths), batch_size):
        chunk = paths[i:i + batch_size]
        x = torch.stack([resize(manifest.load_image(p), size) for p in chunk]).to(device)
        emb = model.embed_image(x).float().cpu()  # [b, D]
        scores = emb @ db.T  # [b, N]
        for row, path in zip(scores, chunk):
            own = torch.tensor([s == images[path] and s != "" for s in db_scenes])
            row = row.masked_fill(own, float("-inf"))
            top = torch.topk(row, min(k, int((~own).sum())))
            out[path] = [entries[j].text for j in top.indices.tolist()]
    model.train(was_training)
    return out
