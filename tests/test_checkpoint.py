"""save_pretrained / from_pretrained: trained parts only, safetensors + JSON, strict and exact round trip."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from models import llm as llm_module
from models.checkpoint import FORMAT, CheckpointError
from models.config import VLMConfig
from models.prompts import build_prompt
from models.vlm import EarthVLM

QUERY = "Is there water?"
RETRIEVED = ["Fields and a pond."]


def randomise_trained(model: EarthVLM) -> None:
    """Give every trained tensor (zero-initialised ones included) distinctive values."""
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not model.is_base(name):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(llm_module.TINY_LLM, "initializer_range", 0.2)  # a tiny LLM whose output varies
        model = EarthVLM(VLMConfig.tiny())
        randomise_trained(model)
        directory = tmp_path_factory.mktemp("ckpt")
        model.save_pretrained(directory)
        yield model, directory, EarthVLM.from_pretrained(directory)


def test_directory_holds_config_and_trained_tensors_only(saved):
    model, directory, _ = saved
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors"]
    with safe_open(str(directory / "model.safetensors"), framework="pt") as f:
        names = set(f.keys())
        assert f.metadata()["format"] == FORMAT
    assert names and not any(model.is_base(n) for n in names)
    for base in ("llm.model.embed_tokens.", "llm.model.layers.0.self_attn.q_proj.base_layer.",
                 "llm.model.layers.0.mlp.base.", "segmenter.encoder.backbone.", "retriever.text_tower.encoder."):
        assert not any(n.startswith(base) for n in names), base
    for trained in ("segmenter.head.", "guidance.", "image_proj.", "prompter.", "retriever.image_tower.proj.",
                    "retriever.logit_scale", ".experts.up", "lora_A", "lora_B"):
        assert any(trained in n for n in names), trained
    config = json.loads((directory / "config.json").read_text())
    assert config["llm_name"] == "tiny" and config["llm_sha256"] == ""  # random tiny base: seeded, no file


def test_round_trip_gives_identical_outputs(saved):
    model, _, loaded = saved
    for name, t in model.state_dict().items():
        assert torch.equal(t, loaded.state_dict()[name]), name
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(model.segment(image), loaded.segment(image))
        batch = model.build_batch(image, [build_prompt("vqa", QUERY, "", RETRIEVED)], ["no"], [QUERY], [RETRIEVED])
        assert torch.equal(model(batch).logits, loaded(batch).logits)
    a = model.generate(image, "vqa", QUERY, "", RETRIEVED, max_new_tokens=8)
    b = loaded.generate(image, "vqa", QUERY, "", RETRIEVED, max_new_tokens=8)
    assert a.text == b.text and a.token_logprobs == b.token_logprobs


def test_loading_is_strict(saved, tmp_path):
    _, directory, loaded = saved
    (tmp_path / "config.json").write_text((directory / "config.json").read_text())
    with safe_open(str(directory / "model.safetensors"), framework="pt") as f:
        tensors = {n: f.get_tensor(n) for n in f.keys()}
    dropped = sorted(n for n in tensors if "prompter." in n)[0]
    broken = {n: t for n, t in tensors.items() if n != dropped} | {"prompter.extra": torch.zeros(1)}
    save_file(broken, str(tmp_path / "model.safetensors"), metadata={"format": FORMAT})
    with pytest.raises(CheckpointError, match="missing 1:.*" + dropped + ".*unexpected 1: prompter.extra"):
        EarthVLM.from_pretrained(tmp_path)
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "other"})
    with pytest.raises(CheckpointError, match="not an EarthAsk checkpoint"):
        EarthVLM.from_pretrained(tmp_path)
    reshaped = dict(tensors, **{dropped: torch.zeros(tensors[dropped].numel() + 1)})
    save_file(reshaped, str(tmp_path / "model.safetensors"), metadata={"format": FORMAT})
    with pytest.raises(CheckpointError, match="shape mismatch"):
        EarthVLM.from_pretrained(tmp_path)


def test_a_base_part_a_stage_tuned_stays_in_every_later_checkpoint(tmp_path):
    model = EarthVLM(VLMConfig.tiny())
    name, param = next((n, p) for n, p in model.named_parameters() if n.startswith("retriever.text_tower.encoder."))
    model.train()  # stage 1 (e.g. the retriever stage) tunes the text encoder...
    param.requires_grad_(True)
    with torch.no_grad():
        param.add_(1.0)
    param.requires_grad_(False)  # ...and the next stage freezes it again before saving
    model.eval().save_pretrained(tmp_path / "a")
    loaded = EarthVLM.from_pretrained(tmp_path / "a")
    assert torch.equal(loaded.state_dict()[name], param.detach())
    loaded.save_pretrained(tmp_path / "b")  # a later stage that never touched it saves it again
    for directory in ("a", "b"):
        with safe_open(str(tmp_path / directory / "model.safetensors"), framework="pt") as f:
            assert name in f.keys() and not any(n.startswith("llm.model.embed_tokens") for n in f.keys())


@pytest.mark.parametrize("field", ["guide_enabled", "retrieval_enabled", "experts_enabled"])
def test_switching_a_part_off_on_load_drops_only_that_part(saved, field):
    from models.checkpoint import SWITCHABLE

    model, directory, _ = saved
    part = SWITCHABLE[field]
    off = EarthVLM.from_pretrained(directory, switch_off=(field,))
    assert getattr(off.cfg, field) is False
    kept = {n: t for n, t in off.state_dict().items() if not off.is_base(n)}
    assert kept and not any(part(n) for n in kept)  # the part is gone ...
    full = model.state_dict()
    dropped = [n for n in full if not model.is_base(n) and part(n)]
    assert dropped  # ... it was there before ...
    for n, t in kept.items():  # ... and every other trained tensor is the saved one
        assert torch.equal(t, full[n]), n
    if field == "experts_enabled":
        assert off.router is None
    if field == "retrieval_enabled":
        assert off.retriever is None
    with pytest.raises(ValueError, match="cannot switch off"):
        EarthVLM.from_pretrained(directory, switch_off=("prompter_dim",))


def test_growing_the_detail_decoder_keeps_every_saved_tensor_and_adds_only_that_part(saved, tmp_path):
    from models.checkpoint import GROWABLE

    model, directory, _ = saved
    grown = EarthVLM.from_pretrained(directory, grow=("seg_detail",))
    assert grown.cfg.seg_detail is True and grown.segmenter.head.detail is not None
    full = model.state_dict()
    added = [n for n in grown.state_dict() if n not in full]
    assert added and all(GROWABLE["seg_detail"](n) for n in added)
    for n, t in full.items():
        if not model.is_base(n):
            assert torch.equal(grown.state_dict()[n], t), n
    grown.save_pretrained(tmp_path / "grown")  # saved with the part, it loads strictly without growing
    again = EarthVLM.from_pretrained(tmp_path / "grown")
    assert again.cfg.seg_detail and all(torch.equal(again.state_dict()[n], grown.state_dict()[n]) for n in added)
    with pytest.raises(ValueError, match="cannot grow"):
        EarthVLM.from_pretrained(directory, grow=("prompter_dim",))
