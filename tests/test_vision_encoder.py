"""Vision encoder: level shapes (tiny, Lite0, tiny HF towers), band adapter, real Lite0 weights (slow)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import torch

from models.band_adapter import BandAdapter
from models.config import VLMConfig
from models.efficientnet_lite import LITE0_SHA256, EfficientNetLite0, lite0_weights_path, load_lite0_weights
from models.vision_encoder import build_vision_encoder

GRACE_HOPPER = Path("/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg")  # Debian python3-matplotlib
MILITARY_UNIFORM = 652  # ImageNet class of that photo


def _shapes(levels: list[torch.Tensor]) -> list[tuple[int, ...]]:
    return [tuple(f.shape) for f in levels]


@pytest.mark.parametrize("n", [1, 3, 4])
def test_tiny_levels(n: int) -> None:
    enc = build_vision_encoder(VLMConfig.tiny(vision_levels=n, vision_width=8))
    levels = enc(torch.rand(2, 3, 64, 96))
    assert enc.level_channels == [8 * 2**i for i in range(n)]
    assert _shapes(levels) == [(2, 8 * 2**i, -(-64 // s), -(-96 // s)) for i, s in enumerate(enc.level_strides)]
    assert enc.level_strides[0] == 8 and enc.weights_sha256 == ""


def test_lite0_levels_random_init() -> None:
    enc = build_vision_encoder(VLMConfig(), pretrained=False)
    assert enc.level_channels == [40, 112, 320] and enc.level_strides == [8, 16, 32]
    assert _shapes(enc(torch.rand(1, 3, 64, 96))) == [(1, 40, 8, 12), (1, 112, 4, 6), (1, 320, 2, 3)]
    odd = enc(torch.rand(1, 3, 65, 97))  # TF SAME padding: ceil(H / stride)
    assert _shapes(odd) == [(1, 40, 9, 13), (1, 112, 5, 7), (1, 320, 3, 4)]
    assert build_vision_encoder(VLMConfig(vision_levels=4), pretrained=False).level_channels[0] == 24
    with pytest.raises(ValueError):
        build_vision_encoder(VLMConfig(vision_levels=5), pretrained=False)


def test_unknown_name_and_wrong_bands() -> None:
    with pytest.raises(ValueError, match="unknown vision_name"):
        build_vision_encoder(VLMConfig.tiny(vision_name="resnet9000"))
    with pytest.raises(ValueError, match="expected"):
        build_vision_encoder(VLMConfig.tiny())(torch.rand(1, 4, 32, 32))


@pytest.mark.parametrize("bands", [4, 13])
def test_band_adapter_encoder(bands: int) -> None:
    torch.manual_seed(0)
    enc3 = build_vision_encoder(VLMConfig.tiny())
    enc = build_vision_encoder(VLMConfig.tiny(vision_bands=bands))
    enc.backbone.load_state_dict(enc3.backbone.state_dict())
    x = torch.rand(2, bands, 64, 64)
    enc.eval(), enc3.eval()
    levels = enc(x)
    assert _shapes(levels) == _shapes(enc3(x[:, :3]))
    assert torch.allclose(levels[-1], enc3(x[:, :3])[-1], atol=1e-6)  # init = first three bands


def test_band_adapter_init() -> None:
    x = torch.rand(2, 13, 8, 8)
    s2 = BandAdapter(VLMConfig.tiny(vision_bands=13, vision_rgb_bands=[3, 2, 1]))
    assert torch.equal(s2(x), x[:, [3, 2, 1]])
    one = BandAdapter(VLMConfig.tiny(vision_bands=1))
    assert torch.allclose(one(x[:, :1]), x[:, :1].expand(-1, 3, -1, -1))
    two = BandAdapter(VLMConfig.tiny(vision_bands=2))
    assert torch.allclose(two(x[:, :2]), x[:, :2].mean(1, keepdim=True).expand(-1, 3, -1, -1), atol=1e-6)
    with pytest.raises(ValueError):
        BandAdapter(VLMConfig.tiny(vision_bands=4, vision_rgb_bands=[0, 1, 4]))


# ---- local Hugging Face towers, made here (no download) ----

VIT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=6, num_attention_heads=2, patch_size=8)


def _save_tower(kind: str, directory: Path) -> Path:
    import transformers as tf

    if kind == "siglip":
        model = tf.SiglipVisionModel(tf.SiglipVisionConfig(image_size=32, **VIT))
    elif kind == "clip":
        model = tf.CLIPVisionModel(tf.CLIPVisionConfig(image_size=32, **VIT))
    elif kind == "siglip2":
        model = tf.Siglip2VisionModel(tf.Siglip2VisionConfig(num_patches=16, **VIT))
    else:  # dual image-text model: only its vision tower is loaded
        text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=64)
        model = tf.SiglipModel(tf.SiglipConfig(vision_config=dict(image_size=32, **VIT), text_config=text))
    model.save_pretrained(directory)
    return directory


@pytest.mark.parametrize("kind", ["siglip", "clip", "siglip2", "siglip_dual"])
def test_hf_tower_levels(kind: str, tmp_path: Path) -> None:
    path = _save_tower(kind, tmp_path / kind)
    enc = build_vision_encoder(VLMConfig.tiny(vision_name=str(path)))
    assert enc.backbone.layer_ids == [2, 4, 6]
    assert enc.level_channels == [32, 32, 32] and enc.level_strides == [8, 8, 8]
    sha = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    assert enc.weights_sha256 == sha
    with torch.no_grad():
        levels = enc(torch.rand(2, 3, 48, 40))
        assert _shapes(levels) == [(2, 32, 6, 5)] * 3
        assert _shapes(enc(torch.rand(1, 3, 50, 37))) == [(1, 32, 6, 5)] * 3  # resized to a multiple of 8


def test_hf_token_layout(tmp_path: Path) -> None:
    """Map cell (i, j) is patch token i * w + j of the layer's hidden state (CLS dropped)."""
    path = _save_tower("clip", tmp_path / "clip")
    enc = build_vision_encoder(VLMConfig.tiny(vision_name=str(path))).eval()
    x = torch.rand(1, 3, 48, 40)
    with torch.no_grad():
        deep = enc(x)[-1]  # [1, 32, 6, 5]
        hidden = enc.backbone.model(
            pixel_values=(x - enc.mean) / enc.std, output_hidden_states=True, interpolate_pos_encoding=True
        ).hidden_states[6]  # [1, 1 + 30, 32]
    assert torch.allclose(deep[0, :, 2, 3], hidden[0, 1 + 2 * 5 + 3], atol=1e-6)


def test_hf_sha_and_normalisation_checks(tmp_path: Path) -> None:
    path = _save_tower("siglip", tmp_path / "siglip")
    with pytest.raises(ValueError, match="sha256"):
        build_vision_encoder(VLMConfig.tiny(vision_name=str(path), vision_sha256="0" * 64))
    (path / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    with pytest.warns(UserWarning, match="vision_mean"):
        build_vision_encoder(VLMConfig.tiny(vision_name=str(path)))


# ---- the real EfficientNet-Lite0 ImageNet weights ----


@pytest.mark.slow
def test_real_lite0_weights() -> None:
    net = EfficientNetLite0(with_classifier=True)
    random_bn = net.blocks[5].depthwise[1].running_var.clone()
    assert load_lite0_weights(net) == LITE0_SHA256  # strict, by position, all 296 tensors
    n_tensors = len(torch.load(lite0_weights_path(), weights_only=True))
    assert n_tensors == len(net.state_dict()) == 296
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 49 and torch.equal(random_bn, torch.ones_like(random_bn))
    for bn in bns:  # trained statistics, not the 0 / 1 of a fresh layer
        assert bn.running_mean.abs().max() > 1e-3 and (bn.running_var - 1).abs().max() > 1e-2
    with pytest.raises(ValueError, match="sha256"):
        build_vision_encoder(VLMConfig(vision_sha256="0" * 64))

    start = time.perf_counter()
    enc = build_vision_encoder(VLMConfig()).eval()
    load_s = time.perf_counter() - start
    assert load_s < 30 and enc.weights_sha256 == LITE0_SHA256
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        levels = enc(x)
        rand_levels = build_vision_encoder(VLMConfig(), pretrained=False).eval()(x)
    assert [tuple(f.shape) for f in levels] == [(2, 40, 16, 16), (2, 112, 8, 8), (2, 320, 4, 4)]
    assert all(torch.isfinite(f).all() for f in levels)
    assert (levels[-1] - rand_levels[-1]).abs().mean() > 0.1

    if GRACE_HOPPER.is_file():  # a real photo: the classifier must name it
        import numpy as np
        from PIL import Image

        img = Image.open(GRACE_HOPPER).convert("RGB")
        side = min(img.size)
        img = img.crop((0, 0, side, side)).resize((224, 224), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float()[None] / 255
        with torch.no_grad():
            logits = net.eval()((x - enc.mean) / enc.std)
        assert int(logits.argmax()) == MILITARY_UNIFORM
