#!/usr/bin/env bash
# Ship a trained checkpoint as the default model: trained parts only, plus its semantic database.
#   bash scripts/ship_default.sh TRAIN_OUT/instruct BENCH_DIR
# Writes resources/model/{config.json,model.safetensors,model_id.txt} and resources/semantic_db/.
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${1:?checkpoint directory (e.g. /work/train/default/instruct)}
DATA=${2:?benchmark directory (python -m core.data build --out DIR)}
PY=.venv/bin/python
rm -rf resources/model resources/semantic_db
mkdir -p resources/model
cp "$CKPT/config.json" "$CKPT/model.safetensors" resources/model/
cp "$CKPT/train_config.json" resources/model/ 2>/dev/null || true
echo "earthask-default-$(date -u +%Y%m%d)-$(sha256sum resources/model/model.safetensors | cut -c1-8)" \
  > resources/model/model_id.txt
# The semantic database: the benchmark's training-split descriptions, embedded by this model's text tower.
"$PY" -m core index "$DATA/semantic_db.jsonl" --model resources/model --out resources/semantic_db --quiet
du -sh resources/model resources/semantic_db
