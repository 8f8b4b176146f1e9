"""Build the installable QGIS plugin zip: ``python build.py [--onnx] [--out dist]``.

The zip holds one root folder, ``earthask/``: the plugin code (plugin/) at its root, so QGIS finds
``__init__.py`` with ``classFactory``, beside ``core/``, ``models/``, ``resources/`` and ``metadata.txt``.
The version comes from the top-level metadata.txt. The zip is verified after it is written.
"""

from __future__ import annotations

import argparse
import configparser
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NAME = "earthask"
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".git", ".ipynb_checkpoints"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".orig", ".rej", ".swp"}
SKIP_RESOURCES = {"demo"}  # demo scenes stay out of the plugin (large, not needed to run)
REQUIRED = (
    "__init__.py", "metadata.txt", "earthask_plugin.py", "processing_provider/provider.py",
    "resources/icons/earthask.svg", "core/__init__.py", "core/engine.py", "models/__init__.py",
)
ZIP_TIME = (2024, 1, 1, 0, 0, 0)  # fixed timestamps: the same sources give the same zip


def read_version(metadata: Path = ROOT / "metadata.txt") -> str:
    """The ``version`` in a metadata.txt."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(metadata.read_text(encoding="utf-8"))
    return parser["general"]["version"].strip()


def _copy_tree(src: Path, dst: Path, skip_top: frozenset[str] = frozenset()) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if set(rel.parts) & SKIP_DIRS or rel.parts[0] in skip_top or path.suffix in SKIP_SUFFIXES:
            continue
        if path.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst / rel)


def stage(staging: Path) -> Path:
    """Copy the plugin's files into ``staging/earthask`` and return that folder."""
    root = staging / NAME
    _copy_tree(ROOT / "plugin", root)
    shutil.copy2(ROOT / "metadata.txt", root / "metadata.txt")
    for package in ("core", "models"):
        _copy_tree(ROOT / package, root / package)
    if (ROOT / "resources").is_dir():
        _copy_tree(ROOT / "resources", root / "resources", frozenset(SKIP_RESOURCES))
    for extra in ("LICENSE", "README.md"):
        if (ROOT / extra).is_file():
            shutil.copy2(ROOT / extra, root / extra)
    return root


def export_onnx(root: Path, model: str) -> None:
    """Export the ONNX encoders into ``root/resources/model/onnx`` with ``python -m core export-onnx``.

    That is where the engine looks for the default model's ONNX files (beside its checkpoint).
    """
    if model == "default" and not (ROOT / "resources" / "model" / "config.json").is_file():
        print("warning: resources/model holds no trained checkpoint; the exported ONNX files belong to the "
              "untrained default and the engine will not use them", file=sys.stderr)
    out = root / "resources" / "model" / "onnx"
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "core", "export-onnx", "--model", model, "--out", str(out)]
    print("running:", " ".join(cmd))
    subprocess.run(cmd, cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def write_zip(root: Path, path: Path) -> Path:
    """Zip ``root`` (one folder) into ``path`` with sorted entries and fixed timestamps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{NAME}/{file.relative_to(root).as_posix()}", ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, file.read_bytes())
    return path


def verify_zip(path: Path, version: str) -> list[str]:
    """Problems with a plugin zip (empty when it is fine): one root, required files, no caches, version."""
    problems = []
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        bad = zf.testzip()
        if bad:
            problems.append(f"corrupt member {bad}")
        roots = {n.split("/", 1)[0] for n in names}
        if roots != {NAME}:
            problems.append(f"expected one root folder {NAME}/, found {sorted(roots)}")
        for rel in REQUIRED:
            if f"{NAME}/{rel}" not in names:
                problems.append(f"missing {NAME}/{rel}")
        cached = [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
        if cached:
            problems.append(f"caches in the zip: {cached[:3]}")
        if f"{NAME}/__init__.py" in names and "def classFactory" not in zf.read(f"{NAME}/__init__.py").decode():
            problems.append("__init__.py has no classFactory")
        metadata_files = sorted(n for n in names if n.endswith("metadata.txt"))
        if metadata_files and metadata_files[0] != f"{NAME}/metadata.txt":
            # QGIS's "install from zip" takes the plugin name from the first metadata.txt in sorted order
            problems.append(f"{metadata_files[0]} sorts before {NAME}/metadata.txt")
        if f"{NAME}/metadata.txt" in names:
            meta = configparser.ConfigParser(interpolation=None)
            meta.read_string(zf.read(f"{NAME}/metadata.txt").decode("utf-8"))
            if meta["general"].get("version", "").strip() != version:
                problems.append(f"metadata version {meta['general'].get('version')} != {version}")
    return problems


def build(out_dir: Path = ROOT / "dist", onnx: bool = False, model: str = "default") -> Path:
    """Stage, optionally export ONNX, zip and verify; returns the zip path."""
    version = read_version()
    with tempfile.TemporaryDirectory(prefix="earthask-build-") as tmp:
        root = stage(Path(tmp))
        if onnx:
            export_onnx(root, model)
        path = write_zip(root, Path(out_dir) / f"{NAME}-{version}.zip")
    problems = verify_zip(path, version)
    if problems:
        raise SystemExit(f"{path}: " + "; ".join(problems))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    parser.add_argument("--onnx", action="store_true", help="also export the ONNX encoders into the zip")
    parser.add_argument("--model", default="default", help="model to export with --onnx (default: default)")
    args = parser.parse_args(argv)
    path = build(Path(args.out), args.onnx, args.model)
    with zipfile.ZipFile(path) as zf:
        count, size = len(zf.namelist()), sum(i.file_size for i in zf.infolist())
    print(f"{path}: {count} files, {size / 1e6:.1f} MB unpacked, {path.stat().st_size / 1e6:.1f} MB zipped; verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
