"""torchrun worker for tests/test_train_ddp.py: trains the toy stage, dumps this rank's final parameters."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_toy import ToyModel, ToyStage, toy_config  # noqa: E402

from core.train.loop import train_stage  # noqa: E402


def main() -> None:
    out, dump = Path(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    holder: dict[str, ToyModel] = {}

    def create() -> ToyModel:
        torch.manual_seed(100 + rank)  # different on purpose: DDP must broadcast rank 0's weights
        holder["model"] = ToyModel()
        return holder["model"]

    stage = ToyStage(n=24)
    summary = train_stage(stage, toy_config(steps=4, batch_size=3, grad_accum=2), out, create,
                          ToyModel.from_pretrained)
    torch.save({"params": {k: v.detach().clone() for k, v in holder["model"].state_dict().items()},
                "seen": stage.seen, "summary": summary}, dump / f"rank{rank}.pt")


if __name__ == "__main__":
    main()
