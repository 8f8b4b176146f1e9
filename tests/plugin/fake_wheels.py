"""Tiny offline wheels standing in for EarthAsk's pinned packages: a local package folder for pip's --no-index.

Each wheel holds one top-level module (``torch``, ``numpy``...) with ``__version__``; ``torch`` also has a
``cuda.is_available()`` that says no. Enough for the set-up's commands and its interpreter check, nothing more.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from pathlib import Path

IMPORT_NAMES = {"faiss-cpu": "faiss"}  # pip name -> module, where they differ beyond "-" -> "_"
TORCH = '''__version__ = "{version}"


class cuda:
    @staticmethod
    def is_available():
        return False
'''


def pins(requirements: Path) -> list[tuple[str, str]]:
    """``(name, version)`` of every ``name==version`` line of a requirements file."""
    found = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([A-Za-z0-9_.+\-]+)", line.split("#", 1)[0])
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def make_wheel(folder: Path, name: str, version: str, source: str = "") -> Path:
    """A pure-Python wheel ``name==version`` in ``folder`` whose module is ``source`` (default: its version)."""
    dist = re.sub(r"[-_.]+", "_", name).lower()
    module = IMPORT_NAMES.get(name.lower(), name.lower().replace("-", "_").replace(".", "_"))
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": (source or f'__version__ = "{version}"\n').encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: earthask-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "\n".join([_record_line(p, d) for p, d in files.items()] + [f"{info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for rel, data in files.items():
            zf.writestr(rel, data)
        zf.writestr(f"{info}/RECORD", record)
    return path


def fake_index(folder: Path, *requirements: Path) -> Path:
    """A wheel for every pin in ``requirements`` (torch with its CUDA stub), in ``folder``."""
    for file in requirements:
        for name, version in pins(file):
            base = version.split("+")[0]
            make_wheel(folder, name, base, TORCH.format(version=base) if name == "torch" else "")
    return folder
