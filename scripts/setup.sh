#!/usr/bin/env bash
# Install what is missing and skip what is present: QGIS 3.40 LTR (bookworm-backports), the venv, pinned packages.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  say "need root for: $*"; exit 1; fi; }

# 1. QGIS 3.40 LTR + qgis_process + Xvfb from Debian bookworm-backports.
if ! /usr/bin/python3 -c "import qgis.core" 2>/dev/null || ! command -v qgis_process >/dev/null \
   || ! command -v Xvfb >/dev/null; then
  say "installing QGIS 3.40 LTR from bookworm-backports (about 2 minutes)"
  src=/etc/apt/sources.list.d/bookworm-backports.sources
  if [ ! -f "$src" ]; then
    as_root tee "$src" >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -t bookworm-backports python3-qgis qgis xvfb python3-venv >/dev/null
fi

# 2. The venv, from Debian's python so it sees qgis, PyQt5 and osgeo.
if [ ! -x .venv/bin/python ]; then
  say "creating .venv (Debian python3 with system site packages)"
  /usr/bin/python3 -m venv --system-site-packages .venv
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
fi

# 3. Pinned packages, reinstalled only when a requirements file changed.
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt requirements-nodeps.txt requirements-batch.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing pinned Python packages (torch 2.13.0 CPU, rasterio, faiss, onnxruntime, transformers, ray...)"
  .venv/bin/python -m pip install -q -r requirements.txt -r requirements-dev.txt -r requirements-batch.txt 2>&1 \
    | grep -v "is ignored" || true
  .venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import numpy, torch, rasterio, faiss, onnxruntime, transformers, ray, geopandas, qgis.core" \
    || { say "the venv does not import its packages"; exit 1; }
  echo "$want" > "$stamp"
fi
# 4. PyQt6 beside (never inside) the venv, for the test that imports every plugin module under Qt6.
#    Kept in a user cache so fresh clones reuse it; pytest-qt must keep seeing only PyQt5 in the venv.
pyqt6=${EARTHASK_PYQT6_DIR:-$HOME/.cache/earthask/pyqt6}
if [ ! -f "$pyqt6/PyQt6/QtCore.abi3.so" ]; then
  say "installing PyQt6 into $pyqt6 (for the Qt6 import test)"
  .venv/bin/python -m pip install -q --target "$pyqt6" PyQt6==6.11.0 PyQt6-Qt6==6.11.2 2>&1 | grep -v "is ignored" || true
fi
say "ready: $(.venv/bin/python -c 'import torch, qgis.core as q; print("torch", torch.__version__, "| QGIS", q.Qgis.QGIS_VERSION)')"
