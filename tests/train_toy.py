"""A toy model and stage for testing the training loop without the real model (imported by tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from core.train.config import StageConfig


class ToyModel(nn.Module):
    """y = MLP(x); save_pretrained/from_pretrained like the real model (config.json + model.safetensors)."""

    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        self.dim = dim
        self.net = nn.Sequential(nn.Linear(dim, 16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, 1))
        self.frozen = nn.Linear(dim, 1)  # never trained: checks that configure() controls requires_grad

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps({"dim": self.dim}))
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()},
                  str(directory / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> ToyModel:
        directory = Path(directory)
        model = cls(**json.loads((directory / "config.json").read_text()))
        model.load_state_dict(load_file(str(directory / "model.safetensors")))
        return model.to(device)


class ToyData(torch.utils.data.Dataset):
    """Fixed random regression pairs: y = sum(x * w) + noise."""

    def __init__(self, n: int = 40, dim: int = 4, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, dim, generator=g)
        self.y = self.x @ torch.linspace(-1, 1, dim) + 0.01 * torch.randn(n, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"x": self.x[i], "y": self.y[i], "index": i}


class ToyLoss(nn.Module):
    def __init__(self, model: ToyModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        pred = self.model.net(batch["x"]).squeeze(-1)  # [B]
        loss = nn.functional.mse_loss(pred, batch["y"])
        return {"loss": loss, "mae": (pred - batch["y"]).abs().mean().detach()}


class ToyStage:
    """Implements core.train.loop.Stage for ToyModel; records the sample indices each batch held."""

    name = "toy"

    def __init__(self, n: int = 40, fail_after: int = 0) -> None:
        self.n = n
        self.fail_after = fail_after  # > 0: raise on the batch after this many (a simulated crash)
        self.seen: list[list[int]] = []

    def datasets(self, model: ToyModel, cfg: StageConfig) -> tuple[ToyData, ToyData]:
        return ToyData(self.n, model.dim, seed=0), ToyData(8, model.dim, seed=1)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        if self.fail_after and len(self.seen) >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.seen.append([it["index"] for it in items])
        return {"x": torch.stack([it["x"] for it in items]), "y": torch.stack([it["y"] for it in items])}

    def configure(self, model: ToyModel, cfg: StageConfig) -> list[dict[str, Any]]:
        model.requires_grad_(False)
        model.net.requires_grad_(True)
        return [{"params": list(model.net.parameters())}]

    def loss_module(self, model: ToyModel, cfg: StageConfig) -> ToyLoss:
        return ToyLoss(model)


def toy_config(**kw: Any) -> StageConfig:
    """A CPU config for quick loop tests."""
    base = dict(steps=6, batch_size=4, lr=1e-2, log_every=2, device="cpu", eval_batches=1)
    base.update(kw)
    return StageConfig(**base)
