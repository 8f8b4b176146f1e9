"""Training metrics as a CSV file (one row per logged step) and a PNG plot of it (matplotlib Agg)."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any, Optional

FIRST_COLUMNS = ["step", "stage", "loss", "lr", "seconds"]


class MetricsLog:
    """Rows of ``{column: value}`` kept in memory and rewritten to ``path`` on every :meth:`log`.

    Columns are ``step, stage, loss, lr, seconds`` followed by the stage's own metrics in first-seen order;
    a value a row lacks is left empty. Rewriting the whole (small) file keeps it consistent when columns
    appear later (e.g. ``val_loss``) and when a resumed run drops rows past its checkpoint.
    """

    def __init__(self, path: str | Path, resume_step: Optional[int] = None) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        if resume_step is not None and self.path.exists():
            with self.path.open(newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if r.get("step") and int(r["step"]) <= resume_step]

    @property
    def columns(self) -> list[str]:
        cols = list(FIRST_COLUMNS)
        for row in self.rows:
            cols += [k for k in row if k not in cols]
        return cols

    def log(self, row: dict[str, Any]) -> None:
        """Append ``row`` and rewrite the file (atomically, through a temporary file)."""
        self.rows.append(dict(row))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            for r in self.rows:
                writer.writerow({k: _fmt(v) for k, v in r.items()})
        os.replace(tmp, self.path)


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a metrics CSV with numbers parsed (empty cells dropped)."""
    rows = []
    with Path(path).open(newline="") as f:
        for r in csv.DictReader(f):
            row: dict[str, Any] = {}
            for k, v in r.items():
                if v in ("", None):
                    continue
                try:
                    row[k] = float(v)
                except ValueError:
                    row[k] = v
            rows.append(row)
    return rows


def plot_metrics(csv_path: str | Path, png_path: str | Path, title: str = "") -> Path:
    """One panel per numeric column (loss and val_loss share a panel) against step; writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(csv_path)
    skip = {"step", "stage", "seconds"}
    names: list[str] = []
    for r in rows:
        names += [k for k, v in r.items() if k not in skip and k not in names and isinstance(v, float)]
    never_skipped = all(not r.get("skipped") for r in rows)
    panels = [n for n in names if n != "val_loss" and not (n == "skipped" and never_skipped)]
    n = max(1, len(panels))
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, panels):
        for series in [name, "val_loss"] if name == "loss" else [name]:
            pts = [(r["step"], r[series]) for r in rows if series in r and "step" in r]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="." if len(pts) < 50 else None, label=series)
        ax.set_title(name)
        ax.set_xlabel("step")
        if name == "loss":
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path
