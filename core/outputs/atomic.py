"""Write under a temporary name beside the target, then rename: a reader never sees half a file."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from core.errors import InputError


def _remove(path: str) -> None:
    for p in (path, path + ".aux.xml"):
        if os.path.exists(p):
            os.remove(p)


def replace_or_clean(tmp: str, path: str) -> str:
    """Rename ``tmp`` (and its ``.aux.xml``) onto ``path``; on failure remove ``tmp`` and raise one sentence.

    Raises:
        InputError: the rename failed (``path`` is a folder, cannot be replaced...); nothing is left behind.
    """
    try:
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise InputError(f"Could not write {path}: {e.strerror or e}.") from None
    if os.path.exists(tmp + ".aux.xml"):
        try:
            os.replace(tmp + ".aux.xml", path + ".aux.xml")
        except OSError:
            os.remove(tmp + ".aux.xml")
    return path


@contextmanager
def atomic_file(path: str, suffix: str = "") -> Iterator[str]:
    """Yield a hidden temporary path beside ``path``; renamed onto ``path`` when the block succeeds, removed
    on any exception, Ctrl-C or stop signal."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.partial{suffix}")
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    replace_or_clean(tmp, path)


def copy_raster(path: str, out: str) -> str:
    """Copy a raster (and its ``.aux.xml``) to ``out`` atomically: readers never see half a file."""
    import shutil

    with atomic_file(out) as tmp:
        shutil.copyfile(path, tmp)
        if os.path.exists(path + ".aux.xml"):
            shutil.copyfile(path + ".aux.xml", tmp + ".aux.xml")
    return out
