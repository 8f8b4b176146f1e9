"""Multi-level vision encoder: band adapter + normalisation + backbone (Lite0, tiny, or a local HF ViT)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models.band_adapter import BandAdapter
from models.config import VLMConfig
from models.digest import files_sha256
from models.efficientnet_lite import EfficientNetLite0, load_lite0_weights

HF_WEIGHT_SUFFIXES = (".safetensors", ".bin")


class TinyBackbone(nn.Module):
    """Random conv stack for tests: stride-4 stem, then one stride-2 conv per level (strides 8, 16, 32...)."""

    def __init__(self, cfg: VLMConfig) -> None:
        super().__init__()
        w = cfg.vision_width
        self.stem = nn.Sequential(_conv_bn_relu(3, w, 2), _conv_bn_relu(w, w, 2))
        self.level_channels = [w * 2**i for i in range(cfg.vision_levels)]
        self.level_strides = [8 * 2**i for i in range(cfg.vision_levels)]
        chans = [w, *self.level_channels]
        self.stages = nn.ModuleList(_conv_bn_relu(chans[i], chans[i + 1], 2) for i in range(cfg.vision_levels))
        self.detail_channels = w  # the stem's stride-4 map
        self.weights_sha256 = ""

    def taps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """-> (the stem's map [B, w, H/4, W/4], levels)."""
        x = detail = self.stem(x)  # [B, w, H/4, W/4]
        levels = []
        for stage in self.stages:
            x = stage(x)  # [B, C_l, H/s_l, W/s_l]
            levels.append(x)
        return detail, levels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.taps(x)[1]


class Lite0Backbone(nn.Module):
    """EfficientNet-Lite0 taps; ``vision_levels`` deepest of strides 4/8/16/32 (3 levels: 40, 112, 320 ch)."""

    def __init__(self, cfg: VLMConfig, pretrained: bool = True) -> None:
        super().__init__()
        n = cfg.vision_levels
        if not 1 <= n <= len(EfficientNetLite0.tap_channels):
            raise ValueError(f"efficientnet_lite0 gives 1 to 4 levels, vision_levels={n}")
        self.net = EfficientNetLite0(with_classifier=False)
        self.first = len(EfficientNetLite0.tap_channels) - n
        self.level_channels = EfficientNetLite0.tap_channels[self.first :]
        self.level_strides = EfficientNetLite0.tap_strides[self.first :]
        # the tap just finer than the levels (stride 4 with 3 levels); none when the levels start at stride 4
        self.detail_channels = EfficientNetLite0.tap_channels[self.first - 1] if self.first else 0
        self.weights_sha256 = load_lite0_weights(self.net, expected_sha256=cfg.vision_sha256) if pretrained else ""

    def taps(self, x: torch.Tensor) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
        """-> (the tap just finer than the levels, or None; levels)."""
        taps = self.net.forward_taps(x)
        return (taps[self.first - 1] if self.first else None), taps[self.first :]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.taps(x)[1]


class HFViTBackbone(nn.Module):
    """A local Hugging Face SigLIP / SigLIP2 / CLIP vision tower; hidden states of three depths -> maps.

    Levels are the outputs of layers round(L * l / n), l = 1..n (paper 001: three layers, the last one
    included), taken before the final layer norm. CLS (CLIP) is dropped; tokens become ``[B, D, h, w]``.
    Inputs whose sides are not a multiple of the patch size are resized to the nearest multiple, so the
    maps still cover the whole input. SigLIP and CLIP towers export to ONNX with dynamic sizes; SigLIP2
    does not (its position embeddings use an antialiased resize that opset 17 lacks).
    """

    def __init__(self, cfg: VLMConfig, pretrained: bool = True) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel

        path = Path(cfg.vision_name)
        config = AutoConfig.from_pretrained(path)
        vision_config = getattr(config, "vision_config", None) or config  # dual model -> its vision tower
        if pretrained:
            # AutoModel with the vision config picks the vision-only class; its "vision_model.*" keys
            # match the dual checkpoint, so the text tower is never built.
            self.model = AutoModel.from_pretrained(path, config=vision_config, dtype=torch.float32)
        else:
            self.model = AutoModel.from_config(vision_config)
        self.model.eval()
        self.naflex = vision_config.model_type.startswith("siglip2")  # takes flattened patches + shapes
        self.patch = int(vision_config.patch_size)
        depth = int(vision_config.num_hidden_layers)
        n = cfg.vision_levels
        if not 1 <= n <= depth:
            raise ValueError(f"{path} has {depth} layers, vision_levels={n}")
        self.layer_ids = [round(depth * (i + 1) / n) for i in range(n)]
        self.level_channels = [int(vision_config.hidden_size)] * n
        self.level_strides = [self.patch] * n
        self.detail_channels = 0  # every level is at the patch stride: no finer map
        self.weights_sha256 = _weights_sha256(path) if pretrained else ""
        if self.weights_sha256 and cfg.vision_sha256 and self.weights_sha256 != cfg.vision_sha256:
            raise ValueError(f"sha256 of {path} weights is {self.weights_sha256}, config expects {cfg.vision_sha256}")
        _warn_on_normalisation(path, cfg)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b, p = x.shape[0], self.patch
        h, w = x.shape[-2:]  # traced tensors in ONNX export
        nh, nw = (h + p // 2) // p, (w + p // 2) // p  # nearest multiple of the patch
        if not torch.jit.is_tracing():
            nh, nw = max(nh, 1), max(nw, 1)
        if torch.jit.is_tracing() or (nh * p, nw * p) != (h, w):  # a same-size bilinear resize is exact
            x = F.interpolate(x, size=(nh * p, nw * p), mode="bilinear", align_corners=False)
        if self.naflex:
            c = x.shape[1]
            patches = x.reshape(b, c, nh, p, nw, p).permute(0, 2, 4, 3, 5, 1).reshape(b, nh * nw, p * p * c)
            out = self.model(
                pixel_values=patches,  # [B, h*w, p*p*C], row-major patches, (p, p, C) inside
                pixel_attention_mask=torch.ones(b, nh * nw, dtype=torch.long, device=x.device),
                spatial_shapes=torch.tensor([[nh, nw]] * b, device=x.device),
                output_hidden_states=True,
            )
        else:
            out = self.model(pixel_values=x, output_hidden_states=True, interpolate_pos_encoding=True)
        maps = []
        for i in self.layer_ids:
            tokens = out.hidden_states[i]  # [B, (1+) h*w, D]
            tokens = tokens[:, tokens.shape[1] - nh * nw :]  # drop CLS
            maps.append(tokens.transpose(1, 2).reshape(b, -1, nh, nw))  # [B, D, h, w]
        return maps


class VisionEncoder(nn.Module):
    """``forward(x [B,C,H,W] in 0..1) -> list of cfg.vision_levels maps [B,C_l,H_l,W_l]``, shallow to deep.

    Attributes:
        level_channels: C_l per level. level_strides: input pixels per map cell, per level.
        weights_sha256: sha256 of the base weights loaded ("" for random init).
    """

    def __init__(self, cfg: VLMConfig, pretrained: bool = True) -> None:
        super().__init__()
        self.bands = cfg.vision_bands
        self.adapter = BandAdapter(cfg) if cfg.vision_bands != 3 else None
        self.backbone = _build_backbone(cfg, pretrained)
        self.level_channels: list[int] = list(self.backbone.level_channels)
        self.level_strides: list[int] = list(self.backbone.level_strides)
        self.detail_channels: int = self.backbone.detail_channels  # 0: no finer map
        self.weights_sha256: str = self.backbone.weights_sha256
        # cfg holds mean/std, so they are not saved with the weights
        self.register_buffer("mean", torch.tensor(cfg.vision_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.vision_std).view(1, 3, 1, 1), persistent=False)

    def _normalised(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and (x.ndim != 4 or x.shape[1] != self.bands):
            raise ValueError(f"expected [B, {self.bands}, H, W] in 0..1, got {tuple(x.shape)}")
        if self.adapter is not None:
            x = self.adapter(x)  # [B, 3, H, W]
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone(self._normalised(x))

    def with_detail(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """-> (a map finer than the levels [B, detail_channels, H/s, W/s], levels), in one pass.

        Raises:
            ValueError: the backbone has no map finer than its levels (``detail_channels`` is 0).
        """
        if not self.detail_channels:
            raise ValueError(f"{type(self.backbone).__name__} with these levels has no finer map for seg_detail")
        return self.backbone.taps(self._normalised(x))


def build_vision_encoder(cfg: VLMConfig, pretrained: bool = True) -> VisionEncoder:
    """The encoder named by ``cfg.vision_name``; ``pretrained=False`` skips loading base weights."""
    return VisionEncoder(cfg, pretrained=pretrained)


def _build_backbone(cfg: VLMConfig, pretrained: bool) -> nn.Module:
    if cfg.vision_name == "efficientnet_lite0":
        return Lite0Backbone(cfg, pretrained)
    if cfg.vision_name == "tiny":
        return TinyBackbone(cfg)
    if (Path(cfg.vision_name) / "config.json").is_file():
        return HFViTBackbone(cfg, pretrained)
    raise ValueError(
        f"unknown vision_name {cfg.vision_name!r}: use efficientnet_lite0, tiny, or a local Hugging Face "
        "directory with a SigLIP/SigLIP2/CLIP vision model (config.json + weights)"
    )


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def _weights_sha256(path: Path) -> str:
    """sha256 over the weight files of an HF dir, in name order (one file: that file's sha256)."""
    return files_sha256(sorted(f for f in path.iterdir() if f.name.endswith(HF_WEIGHT_SUFFIXES)))


def _warn_on_normalisation(path: Path, cfg: VLMConfig) -> None:
    """Warn when the tower's own preprocessor mean/std differ from cfg's (e.g. SigLIP uses 0.5/0.5)."""
    pre = path / "preprocessor_config.json"
    if not pre.is_file():
        return
    data = json.loads(pre.read_text())
    mean, std = data.get("image_mean"), data.get("image_std")
    if mean and std and (list(mean) != list(cfg.vision_mean) or list(std) != list(cfg.vision_std)):
        warnings.warn(
            f"{path} was trained with mean={mean} std={std}; set vision_mean/vision_std to match",
            stacklevel=3,
        )
