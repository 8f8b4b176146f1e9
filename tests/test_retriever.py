"""Retriever and text encoder: shapes, normalisation, InfoNCE by hand and in training, the real MiniLM."""

import hashlib
import math

import numpy as np
import pytest
import torch

from models.config import VLMConfig
from models.retriever import Retriever, info_nce
from models.text_encoder import build_text_encoder, minilm_dir, weights_sha256
from models.vision_encoder import build_vision_encoder

TEXTS = ["a lake next to farmland", "dense buildings along a road", "a forest", "a beach and the sea"]


@pytest.fixture(scope="module")
def tiny_cfg() -> VLMConfig:
    return VLMConfig.tiny()


@pytest.fixture(scope="module")
def retriever(tiny_cfg: VLMConfig) -> Retriever:
    torch.manual_seed(0)
    return Retriever(tiny_cfg)


def test_embeddings_have_retriever_dim_and_unit_norm(retriever: Retriever, tiny_cfg: VLMConfig) -> None:
    with torch.no_grad():
        img = retriever.embed_image(torch.rand(3, 3, 64, 64))
        txt = retriever.embed_text(TEXTS[:2])
    assert img.shape == (3, tiny_cfg.retriever_dim) and txt.shape == (2, tiny_cfg.retriever_dim)
    torch.testing.assert_close(img.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(txt.norm(dim=-1), torch.ones(2))


def test_mean_pooling_ignores_padding(retriever: Retriever) -> None:
    encoder = retriever.text_tower.encoder
    with torch.no_grad():
        alone = encoder(["a lake"])
        padded = encoder(["a lake", "a much longer sentence about many buildings along a busy road"])[:1]
        assert encoder([]).shape == (0, encoder.dim)
    torch.testing.assert_close(alone, padded, atol=1e-5, rtol=1e-5)


def test_only_projections_train_by_default(tiny_cfg: VLMConfig) -> None:
    r = Retriever(tiny_cfg)
    r.train()
    assert not any(p.requires_grad for p in r.image_tower.encoder.parameters())
    assert not any(p.requires_grad for p in r.text_tower.encoder.parameters())
    assert r.image_tower.proj.weight.requires_grad and r.text_tower.proj.weight.requires_grad
    assert r.logit_scale.requires_grad
    assert not r.image_tower.encoder.training  # frozen BatchNorm statistics stay put
    r.set_trainable(image_tower=True, text_tower=True)
    assert all(p.requires_grad for p in r.image_tower.encoder.parameters())
    assert r.image_tower.encoder.training and r.text_tower.encoder.training


def test_shared_encoder_is_left_to_its_owner(tiny_cfg: VLMConfig) -> None:
    shared = build_vision_encoder(tiny_cfg)
    shared.train()
    r = Retriever(tiny_cfg, vision_encoder=shared, text_encoder=build_text_encoder(tiny_cfg))
    r.train()
    assert r.image_tower.encoder is shared and not r.owns_vision
    assert shared.training and all(p.requires_grad for p in shared.parameters())
    emb = r.embed_image(torch.rand(2, 3, 64, 64))
    emb.sum().backward()
    assert all(p.grad is None for p in shared.parameters())  # frozen here: no autograd through it


def test_info_nce_matches_hand_computation(tiny_cfg: VLMConfig) -> None:
    img = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    txt = torch.tensor([[0.8, 0.6], [0.0, 1.0]])
    # similarities [[0.8, 0.0], [0.96, 0.8]]; temperature 0.5 -> scale 2 -> logits [[1.6, 0], [1.92, 1.6]]
    lse = lambda a, b: math.log(math.exp(a) + math.exp(b))  # noqa: E731
    rows = (lse(1.6, 0.0) - 1.6 + lse(1.92, 1.6) - 1.6) / 2
    cols = (lse(1.6, 1.92) - 1.6 + lse(0.0, 1.6) - 1.6) / 2
    expected = (rows + cols) / 2
    r = Retriever(VLMConfig.tiny(retriever_temperature=0.5), vision_encoder=build_vision_encoder(tiny_cfg),
                  text_encoder=build_text_encoder(tiny_cfg))
    assert r.info_nce(img, txt).item() == pytest.approx(expected, abs=1e-5)
    assert info_nce(img, txt, 2.0).item() == pytest.approx(expected, abs=1e-5)
    assert r.temperature() == pytest.approx(0.5)


def test_info_nce_decreases_when_training_projections(tiny_cfg: VLMConfig) -> None:
    torch.manual_seed(1)
    r = Retriever(tiny_cfg)
    r.train()
    images = torch.rand(4, 3, 64, 64)
    opt = torch.optim.Adam([p for p in r.parameters() if p.requires_grad], lr=3e-2)
    losses = []
    for _ in range(15):
        loss = r.info_nce(*r(images, TEXTS))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_retrieve_passes_float32_queries_to_any_db(retriever: Retriever, tiny_cfg: VLMConfig) -> None:
    class FakeDB:
        def search(self, query_embeddings, k, level=None):
            self.args = (query_embeddings, k, level)
            return [[f"hit{i}" for i in range(k)] for _ in range(len(query_embeddings))]

    db = FakeDB()
    emb = retriever.embed_image(torch.rand(2, 3, 64, 64))
    hits = retriever.retrieve(emb, db)
    query, k, level = db.args
    assert query.dtype == np.float32 and query.shape == (2, tiny_cfg.retriever_dim)
    assert query.flags.c_contiguous
    assert k == tiny_cfg.retriever_top_k and level is None and len(hits) == 2
    retriever.retrieve(emb, db, k=1, level="scene")
    assert db.args[1:] == (1, "scene")


def test_local_hf_text_dir_loads_with_sha256(tmp_path, tiny_cfg: VLMConfig) -> None:
    tiny = build_text_encoder(tiny_cfg)
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    sha = hashlib.sha256((tmp_path / "model.safetensors").read_bytes()).hexdigest()
    enc = build_text_encoder(VLMConfig.tiny(text_name=str(tmp_path), text_sha256=sha))
    assert enc.sha256 == sha == weights_sha256(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(enc(TEXTS), tiny(TEXTS))
    with pytest.raises(ValueError, match="sha256"):
        build_text_encoder(VLMConfig.tiny(text_name=str(tmp_path), text_sha256="0" * 64))
    with pytest.raises(ValueError, match="unknown text encoder"):
        build_text_encoder(VLMConfig.tiny(text_name=str(tmp_path / "missing")))


@pytest.mark.slow
def test_real_minilm_ranks_water_near_lake() -> None:
    enc = build_text_encoder(VLMConfig(text_name="minilm"))
    assert enc.dim == 384 and enc.sha256 == weights_sha256(minilm_dir()) and len(enc.sha256) == 64
    texts = ["A river with clear water flows through the area.", "A calm lake surrounded by trees.",
             "Rows of tall buildings and parking lots."]
    with torch.no_grad():
        emb = torch.nn.functional.normalize(enc(texts), dim=-1)
    sim = emb @ emb.t()
    assert sim[0, 1] > sim[0, 2] + 0.1
    st = pytest.importorskip("sentence_transformers")  # the reference implementation, when installed
    ref = st.SentenceTransformer(str(minilm_dir()), device="cpu").encode(texts, convert_to_tensor=True)
    torch.testing.assert_close(emb, ref.cpu(), atol=1e-4, rtol=1e-4)
