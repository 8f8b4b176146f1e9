"""Two CPU processes under torchrun (gloo): identical parameters on both ranks, rank 0 alone writes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_training(tmp_path):
    out, dump = tmp_path / "ckpt", tmp_path / "dump"
    dump.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
           "127.0.0.1", "--master_port", str(_free_port()), str(ROOT / "tests" / "ddp_worker.py"),
           str(out), str(dump)]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (torch.load(dump / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for k, v in r0["params"].items():
        torch.testing.assert_close(v, r1["params"][k], rtol=0, atol=0)
    # each rank saw its own half of the data (DistributedSampler), so the sync was real
    first0, first1 = r0["seen"][0], r1["seen"][0]
    assert not set(first0) & set(first1)
    # rank 0 wrote the checkpoint: it holds exactly the final parameters
    from train_toy import ToyModel

    saved = ToyModel.from_pretrained(out).state_dict()
    for k, v in saved.items():
        torch.testing.assert_close(v, r0["params"][k], rtol=0, atol=0)
    state = torch.load(out / "trainer_state.pt", weights_only=True)
    assert state["step"] == 4 and len(state["rng"]) == 2  # the RNG of both ranks, for resuming
    rows = (out / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2  # header + steps 2 and 4: one writer, no duplicated rows
    assert (out / "metrics.png").is_file()
    assert not list(out.glob("*.tmp"))
    assert r0["summary"]["loss"] == r1["summary"]["loss"]  # losses are averaged over ranks
