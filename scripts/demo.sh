#!/usr/bin/env bash
# `make demo`: segment, ask, ground and caption the bundled Sentinel-2 demo scene with the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-demo_out}
PY=.venv/bin/python
SCENE=resources/demo/sentinel2_demo.tif
MODEL=${EARTHASK_MODEL:-default}
mkdir -p "$OUT"
run() { echo; echo "\$ python -m core $*"; "$PY" -m core "$@"; }

run segment "$SCENE" --model "$MODEL" --out "$OUT/landcover.tif"
run ask "$SCENE" "How much of this scene is water?" --model "$MODEL"
run ask "$SCENE" "What is the area ratio of water?" --model "$MODEL" \
    --choices "0-10%|10-20%|20-30%|30-40%|40-50%|50-60%|60-70%|70-80%|80-90%|90-100%"
run ask "$SCENE" "How many buildings are there?" --model "$MODEL"
run ask "$SCENE" "Is there more forest than farmland?" --model "$MODEL"
run ask "$SCENE" "What could this coastal area be used for?" --model "$MODEL"
run ask "$SCENE" "Is this a rural or an urban area?" --model "$MODEL" --aoi "$(
    "$PY" -c "import rasterio as r; b=r.open('$SCENE').bounds; print(f'{b.left},{b.bottom},{(b.left+b.right)/2},{(b.bottom+b.top)/2}')")"
run ground "$SCENE" "the water bodies" --model "$MODEL" --out "$OUT/water.gpkg"
run caption "$SCENE" --model "$MODEL"
run caption "$SCENE" --model "$MODEL" --json > "$OUT/caption.json"
echo
echo "outputs in $OUT/: $(ls "$OUT" | tr '\n' ' ')"
