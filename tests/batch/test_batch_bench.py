"""The batch benchmark's steady-state rate: items after each worker's first, over the seconds they took."""

from core.bench.batch import steady_rate


def test_steady_rate_leaves_out_each_workers_first_item() -> None:
    rows = [
        {"status": "done", "worker": "a", "seconds": 9.0, "finished_at": "1"},  # loads the model: left out
        {"status": "done", "worker": "a", "seconds": 0.5, "finished_at": "2"},
        {"status": "done", "worker": "a", "seconds": 0.5, "finished_at": "3"},
        {"status": "done", "worker": "b", "seconds": 8.0, "finished_at": "1"},
        {"status": "done", "worker": "b", "seconds": 0.25, "finished_at": "4"},
        {"status": "failed", "worker": "b", "seconds": 0.01, "finished_at": "5"},  # failures are not throughput
    ]
    assert steady_rate(rows) == 2 / 1.0 + 1 / 0.25  # worker a: 2 items/s, worker b: 4 items/s
    assert steady_rate(rows[:1]) == 0.0
