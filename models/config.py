"""One flat config for the whole vision-language model; saved as config.json beside model.safetensors."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

# EarthVQA / LoveDA land-cover classes, in the public dataset's order.
EARTHVQA_CLASSES = [
    "background", "building", "road", "water", "barren", "forest", "agriculture", "playground",
]
# Scene categories of the classify task (the data builder's labels; a checkpoint records its own).
INIT_SEED = 0  # models are built under this seed: random bases (tiny) are the same on every rebuild
SCENE_LABELS = ["urban", "rural", "agricultural", "forest", "water", "barren", "mixed"]


@dataclass
class VLMConfig:
    # --- vision encoder (multi-level features) ---
    vision_name: str = "efficientnet_lite0"  # efficientnet_lite0 | tiny | local HF dir (SigLIP/SigLIP2/CLIP)
    vision_sha256: str = ""  # sha256 of the base weights file; checked when set
    vision_bands: int = 3  # input bands; anything but 3 goes through a learned band adapter
    vision_rgb_bands: list[int] = field(default_factory=list)  # adapter init: indices of red, green, blue
    # in the input ([] = the first three bands; the band mean when fewer than 3). Sentinel-2 13-band: [3, 2, 1]
    vision_image_size: int = 256  # square input size for the language side, pixels
    vision_levels: int = 3  # feature depths taken from the encoder (paper: three layers)
    vision_mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    vision_std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    vision_width: int = 32  # tiny encoder only: base channel width
    # --- land-cover segmentation head (FPN on the levels) ---
    seg_classes: list[str] = field(default_factory=lambda: list(EARTHVQA_CLASSES))
    scene_labels: list[str] = field(default_factory=lambda: list(SCENE_LABELS))  # classify's default labels
    trained_gsd_m: list[float] = field(default_factory=list)  # pixel sizes (m) of its training imagery; [] unknown
    seg_dim: int = 64  # FPN channel width
    seg_detail: bool = False  # a decoder onto the encoder's next finer map (stride 4 for Lite0): sharper edges
    # --- EarthVL semantic guidance: predicted mask, one-hot, embedded and fused ---
    guide_enabled: bool = True
    guide_dim: int = 64
    # --- retriever (CLIP-style dual encoder over a faiss database) ---
    retrieval_enabled: bool = True
    text_name: str = "minilm"  # minilm | tiny | local HF text-encoder dir
    text_sha256: str = ""
    retriever_dim: int = 256  # shared embedding size
    retriever_top_k: int = 3
    retriever_temperature: float = 0.07  # initial InfoNCE temperature
    # --- multi-level visual prompter (aggregation tokens) ---
    prompter_tokens: int = 16  # aggregation tokens per level (paper: 144 in all)
    prompter_heads: int = 4
    prompter_dim: int = 256  # prompter width: query, semantic and visual tokens are projected to it
    prompter_max_text_tokens: int = 128  # token cap for the user query and for each retrieved description
    # --- semantic-aware experts in the LLM ---
    experts_enabled: bool = True
    experts_rank: int = 16  # r in d -> r -> d
    experts_every: int = 4  # experts beside the FFN of every Nth decoder layer
    # --- language model ---
    llm_name: str = "smollm2"  # smollm2 | tiny | local HF causal-LM dir (e.g. Qwen2.5-7B-Instruct)
    llm_sha256: str = ""
    image_tokens: int = 64  # image patch tokens given to the LLM (pooled grid, a square number)
    lora_enabled: bool = True
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    # --- numerical difference loss (EarthVL) ---
    ndl_enabled: bool = True
    ndl_alpha: float = 1.0
    ndl_gamma: float = 0.5

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` into ``directory``."""
        path = Path(directory) / "config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> VLMConfig:
        """Read ``config.json`` from ``directory``; unknown keys are an error, missing keys take defaults."""
        data = json.loads((Path(directory) / "config.json").read_text())
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown config keys in {directory}/config.json: {unknown}")
        defaults = cls()
        for key, value in data.items():  # each value of the type its default has (ints may stand for floats)
            want = type(getattr(defaults, key))
            ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
            if not ok and not (want is float and isinstance(value, int) and not isinstance(value, bool)):
                raise ValueError(f"config key {key} in {directory}/config.json should be a {want.__name__}, "
                                 f"not {value!r}")
        return cls(**data)

    @classmethod
    def tiny(cls, **overrides: object) -> VLMConfig:
        """A random, fast configuration for tests (no weights loaded)."""
        base = dict(
            vision_name="tiny", vision_image_size=64, vision_width=8, seg_dim=16, guide_dim=16,
            text_name="tiny", retriever_dim=32, prompter_tokens=4, prompter_heads=2, experts_rank=4,
            prompter_dim=32, experts_every=1, llm_name="tiny", image_tokens=16, lora_r=4, lora_alpha=8,
        )
        base.update(overrides)
        return cls(**base)
