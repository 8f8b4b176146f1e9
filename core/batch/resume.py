"""Resuming a batch: a journal of finished rows, so a rerun skips what is done and retries what failed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

from core.batch.items import WorkItem
from core.batch.output import RESULTS, read_rows
from core.errors import InputError

STATE = ".batch"  # folder of the run's state inside OUT
JOURNAL = "journal.jsonl"  # one JSON row per finished item (done or failed), appended and fsynced
SETTINGS = "run.json"


class Journal:
    """The rows a batch has finished, kept in ``OUT/.batch/journal.jsonl``.

    Each finished item is appended as one line and synced to disk before the next is counted, so a run killed
    at any moment (SIGKILL included) loses at most the items in flight. The latest row of an item wins.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.path = out_dir / STATE / JOURNAL
        self._file: Optional[Any] = None

    def load(self) -> dict[str, dict[str, Any]]:
        """Rows by item id: those of an earlier results.parquet, then the journal's (a torn last line is
        ignored: the kill came while it was written)."""
        rows: dict[str, dict[str, Any]] = {}
        table = self.out_dir / RESULTS
        if table.is_file():
            try:
                rows.update({r["item_id"]: r for r in read_rows(table)})
            except Exception:  # an unreadable table is rebuilt from the journal
                rows = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and "item_id" in row:
                    rows[row["item_id"]] = row
        return rows

    def append(self, row: dict[str, Any]) -> None:
        """Add one finished row, on disk before this returns."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(json.dumps(row, default=_plain) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Replace the journal by exactly ``rows`` (once the table holds them: retries no longer pile up)."""
        self.close()
        tmp = self.path.with_suffix(".partial")
        tmp.write_text("".join(json.dumps(r, default=_plain) + "\n" for r in rows), encoding="utf-8")
        os.replace(tmp, self.path)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _plain(value: Any) -> Any:
    """numpy scalars (from a table read back) as Python numbers."""
    return value.item() if hasattr(value, "item") else str(value)


def check_settings(out_dir: Path, settings: dict[str, Any]) -> None:
    """Check that the batch already in OUT, if any, has these settings (nothing is written).

    Raises:
        InputError: OUT holds a batch of another task, question, model or grid.
    """
    path = out_dir / STATE / SETTINGS
    if path.is_file():
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            before = None
        if before is not None and before != settings:
            changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
            raise InputError(f"{out_dir} holds a batch with other settings ({', '.join(changed)}); "
                             "use another --out to run this one.")


def record_settings(out_dir: Path, settings: dict[str, Any]) -> None:
    """Write the batch's settings to OUT (checked by :func:`check_settings` on the next run)."""
    path = out_dir / STATE / SETTINGS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1, sort_keys=True), encoding="utf-8")


def digest_memo(rows: dict[str, dict[str, Any]]) -> dict[tuple[str, int, int], str]:
    """``(path key, size, mtime_ns) -> digest`` from earlier rows: unchanged files are not hashed again."""
    memo = {}
    for r in rows.values():
        if r.get("digest") and r.get("size") is not None and r.get("mtime_ns") is not None:
            key = r["path"] if not r.get("after") else f"{r['path']}\n{r['after']}"
            memo[(key, int(r["size"]), int(r["mtime_ns"]))] = r["digest"]
    return memo


def is_done(item: WorkItem, rows: dict[str, dict[str, Any]]) -> bool:
    """Whether ``item`` finished before, on the same content (same path, cell and digest); failed ones are not."""
    row = rows.get(item.item_id)
    return row is not None and row.get("status") == "done" and row.get("digest") == item.digest
