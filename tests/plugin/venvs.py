"""Small interpreters for the engine set-up tests: a bare venv (no numpy, no torch), and pip kept offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def venv_python(folder: Path) -> Path:
    """The interpreter of the venv in ``folder``."""
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def make_bare_venv(folder: Path) -> Path:
    """A venv without pip and without system site packages, made from this process's Python build; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    return venv_python(folder)


def purelib(python: Path) -> str:
    """``python``'s own site-packages folder."""
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def offline_pip(monkeypatch: pytest.MonkeyPatch, wheels: Path | None = None) -> None:
    """pip sees no configuration of this machine and no index; with ``wheels``, only that folder of packages."""
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    if wheels is not None:
        monkeypatch.setenv("PIP_NO_INDEX", "1")
        monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))

