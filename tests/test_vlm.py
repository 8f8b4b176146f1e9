"""EarthVLM on tiny random parts: the API core calls, KV-cache generation, the training forward, ablations."""

import pytest
import torch

from models import llm as llm_module
from models.config import VLMConfig
from models.experts import ROLE_TEXT
from models.prompts import build_prompt
from models.vlm import EarthVLM, GenerationOutput

QUERY = "How many buildings are there?"
RETRIEVED = ["A dense residential area with houses.", "A river crosses farmland."]


def build_trained(cfg: VLMConfig) -> EarthVLM:
    """A tiny model whose zero-initialised parts (LoRA B, expert up-projections, guidance) are non-zero and
    whose random LLM is initialised wider than HF's default, so that outputs depend on every input."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(llm_module.TINY_LLM, "initializer_range", 0.2)
        model = EarthVLM(cfg)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad and p.dtype.is_floating_point and not p.any():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return model.eval()


@pytest.fixture(scope="module")
def model() -> EarthVLM:
    return build_trained(VLMConfig.tiny())


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def test_segment_and_retriever_embeddings(model, image):
    assert model.segment(image).shape == (1, len(model.cfg.seg_classes), 64, 64)
    img, txt = model.embed_image(image), model.embed_text(RETRIEVED)
    assert img.shape == (1, model.cfg.retriever_dim) and txt.shape == (2, model.cfg.retriever_dim)
    torch.testing.assert_close(img.norm(dim=-1), torch.ones(1))


def test_generate_streams_the_text_it_returns(model, image):
    pieces: list[str] = []
    out = model.generate(image, "vqa", QUERY, "building: 5.0% (5.1 ha), 3 objects", RETRIEVED,
                         max_new_tokens=12, on_text=pieces.append)
    assert isinstance(out, GenerationOutput)
    assert "".join(pieces) == out.text and len(out.token_logprobs) == 12
    assert all(lp <= 0 for lp in out.token_logprobs)
    assert out.prompt.endswith(build_prompt("vqa", QUERY, "building: 5.0% (5.1 ha), 3 objects", RETRIEVED)
                               + "\n")
    assert "<image:16><semantic:3x4>" in out.prompt


def test_generation_with_kv_cache_equals_generation_without(model, image):
    prompt = build_prompt("vqa", QUERY, "", RETRIEVED, ["yes", "no"])
    embeds, roles = model.prompt_inputs(image, prompt, QUERY, RETRIEVED)
    n, levels = model.cfg.prompter_tokens, model.cfg.vision_levels
    assert sorted(roles[0].unique().tolist()) == [ROLE_TEXT, *range(levels)]
    assert [(roles[0] == k).sum().item() for k in range(levels)] == [n] * levels
    with torch.no_grad():
        cached = model.greedy(embeds, roles, 16)
        full = model.greedy(embeds, roles, 16, use_cache=False)
    assert cached[0] == full[0]
    assert len(set(cached[0])) > 1  # a sequence that would reveal a misaligned cache or wrong roles
    torch.testing.assert_close(torch.tensor(cached[1]), torch.tensor(full[1]), atol=1e-4, rtol=0)


def test_training_forward_matches_inference_and_trains_the_right_parts(model, image):
    prompt = build_prompt("vqa", QUERY, "", RETRIEVED)
    with torch.no_grad():
        embeds, roles = model.prompt_inputs(image, prompt, QUERY, RETRIEVED)
        first, _ = model.greedy(embeds, roles, 1)
        batch = model.build_batch(image, [prompt], ["3"], [QUERY], [RETRIEVED])
        _, logits = model(batch)
    n_prompt = int((batch["labels"][0] == -100).sum())
    assert logits[0, n_prompt - 1].argmax().item() == first[0]  # teacher forcing sees what generation sees
    answer = batch["labels"][0, n_prompt:].tolist()
    assert model.tokenizer.decode(answer) == "3" + model.tokenizer.eos_token

    model.train()
    try:
        two = model.build_batch(torch.cat([image, image.flip(-1)]), [prompt, "Describe."], ["3", "a town"],
                                [QUERY, ""], [RETRIEVED, []], answer_numbers=[3.0, None])
        loss, logits = model(two)
        assert logits.shape[:2] == two["input_ids"].shape and torch.isfinite(loss)
        loss.backward()
    finally:
        model.eval()
    grads = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.any()}
    for part in ("prompter.", "image_proj.", "guidance.", ".experts.", "lora_A", "lora_B"):
        assert any(part in n for n in grads), part
    assert not any(model.is_base(n) for n in grads)
    model.zero_grad(set_to_none=True)


def test_ablations_switch_parts_off(image):
    cfg = VLMConfig.tiny(guide_enabled=False, retrieval_enabled=False, experts_enabled=False,
                         lora_enabled=False)
    model = EarthVLM(cfg)
    assert model.router is None and model.retriever is None
    assert not any("lora_" in n or ".experts." in n for n, _ in model.named_parameters())
    with pytest.raises(RuntimeError, match="retrieval_enabled=False"):
        model.embed_image(image)
    out = model.generate(image, "caption", "", "", RETRIEVED, max_new_tokens=3)
    assert len(out.token_logprobs) <= 3
    with pytest.raises(ValueError, match="square"):
        EarthVLM(VLMConfig.tiny(image_tokens=15))


def test_activation_checkpointing_gives_the_same_gradients(model, image):
    batch = model.build_batch(image, [build_prompt("caption", "", "", [])], ["a town"], [""], [[]])

    def grads() -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        model.train()
        torch.manual_seed(0)  # the same LoRA dropout masks in both runs
        try:
            model(batch).loss.backward()  # backward recomputes checkpointed layers after forward returned
        finally:
            model.eval()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain = grads()
    llm = model.llm
    enable = getattr(llm, "activation_checkpointing_enable", None) or llm.gradient_checkpointing_enable
    disable = getattr(llm, "activation_checkpointing_disable", None) or llm.gradient_checkpointing_disable
    enable()
    try:
        checkpointed = grads()
    finally:
        disable()
        model.zero_grad(set_to_none=True)
    assert plain.keys() == checkpointed.keys() and any(".experts." in n for n in plain)
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], msg=name)


def test_a_bf16_qwen2_layout_llm_runs_end_to_end(tmp_path, image):
    from tests.test_llm import make_qwen2_dir

    cfg = VLMConfig.tiny(llm_name=str(make_qwen2_dir(tmp_path / "qwen2", initializer_range=0.2)), experts_every=2)
    model = build_trained(cfg)
    assert model.llm.dtype == torch.bfloat16 and model.router.layer_ids == [1, 3]
    out = model.generate(image, "vqa", QUERY, "", RETRIEVED, max_new_tokens=6)
    assert len(out.token_logprobs) == 6
    model.train()
    try:
        batch = model.build_batch(image, ["Question: q"], ["3"], ["q"], [RETRIEVED], answer_numbers=[3.0])
        loss, _ = model(batch)
        loss.backward()
    finally:
        model.eval()
    assert torch.isfinite(loss) and any(p.grad is not None for n, p in model.named_parameters() if ".experts." in n)


@pytest.mark.slow
def test_default_model_builds_and_answers():
    model = EarthVLM(VLMConfig())  # EfficientNet-Lite0 + MiniLM + SmolLM2 (converted GGUF, cached)
    tok = model.tokenizer
    frame = tok("<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False).input_ids
    assert tok.convert_tokens_to_ids("<|im_start|>") in frame and tok.eos_token_id in frame  # special tokens
    image = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    out = model.generate(image, "vqa", QUERY, "building: 5.0% (5.1 ha), 3 objects", RETRIEVED, max_new_tokens=8)
    assert out.prompt.startswith("<|im_start|>user\n<image:64><semantic:3x16>Land cover: building")
    assert out.prompt.endswith("<|im_end|>\n<|im_start|>assistant\n") and out.token_logprobs
    with pytest.raises(ValueError, match="one image"):
        model.generate(torch.cat([image, image]), "vqa", QUERY, "", [])
