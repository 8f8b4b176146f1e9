#!/usr/bin/env bash
# One command for the day a GPU machine is lent: encoder bench (torch fp32, fp16 autocast + channels_last,
# onnxruntime-gpu with IO binding, TensorRT if present), tiled segmentation end to end on a generated 8192^2
# scene, a few hundred training steps of the default recipe; every figure in one JSON file, $OUT/gpu_check.json.
#
#   OUT=/some/folder scripts/gpu_check.sh            # (the device tool sets $OUT)
#
# Settings (environment): PYTHON (default python3), WHEELS (folder of wheels carried over, default
# shared/wheels: what is missing is installed from there only, the machine reaches nothing outside),
# TILING_SIZE (8192), TRAIN_STEPS (300), STEP_TIMEOUT (seconds per step, 110). A step that fails is recorded
# in the JSON with its exit status and the end of its output; the other steps still run. See docs/GPU.md.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu_check_out}
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-$ROOT/shared/wheels}
TILING_SIZE=${TILING_SIZE:-8192}
TRAIN_STEPS=${TRAIN_STEPS:-300}
STEP_TIMEOUT=${STEP_TIMEOUT:-110}  # the five long steps at 110 s fit the device tool's 600 s per command
WORK=$(mktemp -d "${TMPDIR:-/tmp}/earthask-gpu.XXXXXX")
mkdir -p "$OUT/steps"
export PYTHONPATH=$ROOT HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 EARTHASK_CACHE=${EARTHASK_CACHE:-$WORK/cache}

# step NAME COMMAND...: run with a timeout; output, exit status and seconds go to $OUT/steps/NAME.*
step() {
    local name=$1
    shift
    local start end
    start=$(date +%s.%N)
    timeout "$STEP_TIMEOUT" "$@" >"$OUT/steps/$name.log" 2>&1
    echo $? >"$OUT/steps/$name.rc"
    end=$(date +%s.%N)
    echo "$start $end" | awk '{printf "%.3f\n", $2 - $1}' >"$OUT/steps/$name.seconds"
    echo "$name: exit $(cat "$OUT/steps/$name.rc"), $(cat "$OUT/steps/$name.seconds") s"
}

# 1. what is missing, from the carried wheels only (module:package)
for pair in numpy:numpy rasterio:rasterio affine:affine scipy:scipy safetensors:safetensors \
    transformers:transformers onnx:onnx onnxruntime:onnxruntime-gpu; do
    module=${pair%%:*}
    package=${pair#*:}
    if ! "$PY" -c "import $module" 2>/dev/null; then
        if [ -d "$WHEELS" ]; then
            "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" "$package" >>"$OUT/steps/install.log" 2>&1 \
                || echo "install $package: not in $WHEELS" | tee -a "$OUT/steps/install.log"
        else
            echo "missing $module and no wheels folder $WHEELS" | tee -a "$OUT/steps/install.log"
        fi
    fi
done

# 2. the machine
step environment "$PY" -c '
import json, platform, torch
info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available()}
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    info.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}")
for name in ("onnxruntime", "rasterio", "onnx", "tensorrt"):
    try:
        module = __import__(name)
        info[name] = getattr(module, "__version__", "present")
        if name == "onnxruntime":
            info["ort_providers"] = module.get_available_providers()
    except ImportError:
        info[name] = None
print(json.dumps(info))
'
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv >"$OUT/steps/nvidia-smi.log" 2>&1

# 3. the encoder: torch fp32 / fp16 autocast / + channels_last, ORT CUDA (host io, IO binding), TensorRT
step encoder "$PY" -m core bench encoder --device cuda --sizes 512 --batch 8 --iters 10 --warmup 3 \
    --json "$OUT/steps/encoder.json"

# 4. tiled segmentation end to end: the default model on CUDA (torch, what auto picks there), then ORT
step tiling_torch "$PY" -m core bench tiling --size "$TILING_SIZE" --backend torch --device cuda --batch-size 8 \
    --workdir "$WORK/tiling" --json "$OUT/steps/tiling_torch.json"
step tiling_onnx "$PY" -m core bench tiling --size "$TILING_SIZE" --backend onnx --device cuda --batch-size 8 \
    --workdir "$WORK/tiling" --json "$OUT/steps/tiling_onnx.json"
if [ "$(cat "$OUT/steps/tiling_torch.rc")" != 0 ]; then  # e.g. base weights not carried: the pipeline alone
    step tiling_stand_in "$PY" -m core bench tiling --size "$TILING_SIZE" --stand-in --batch-size 8 \
        --workdir "$WORK/tiling" --json "$OUT/steps/tiling_stand_in.json"
fi

# 5. training: a generated benchmark, then TRAIN_STEPS steps of the default recipe's seg stage
step train_data "$PY" -m core.data build --out "$WORK/bench" --scenes 48 --size 256 --no-real
step train "$PY" -m core.train --data "$WORK/bench" --out "$WORK/run" --stage seg --recipe default \
    "seg.steps=$TRAIN_STEPS"
cp "$WORK/run/metrics.csv" "$OUT/steps/train_metrics.csv" 2>/dev/null

# 6. one JSON: every step's exit status and seconds, its figures, and the end of its output when it failed
"$PY" - "$OUT" <<'PYEOF'
import csv
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
steps = out / "steps"


def text(name: str) -> str:
    path = steps / name
    return path.read_text(errors="replace") if path.is_file() else ""


result = {"note": "figures only from steps that exited 0; nothing here is a claim until read", "steps": {}}
for rc_file in sorted(steps.glob("*.rc")):
    name = rc_file.stem
    entry = {"exit": int(text(f"{name}.rc").strip() or -1), "seconds": float(text(f"{name}.seconds").strip() or 0)}
    if entry["exit"] != 0:
        entry["output_tail"] = text(f"{name}.log")[-2000:]
    if (steps / f"{name}.json").is_file():
        entry["figures"] = json.loads(text(f"{name}.json"))
    result["steps"][name] = entry
env = result["steps"].get("environment", {})
if env.get("exit") == 0:
    env["figures"] = json.loads(text("environment.log").strip().splitlines()[-1])
if "encoder" in result["steps"]:
    result["steps"]["encoder"]["output"] = text("encoder.log")[-4000:]
rows = list(csv.DictReader(open(steps / "train_metrics.csv"))) if (steps / "train_metrics.csv").is_file() else []
if rows and "train" in result["steps"]:
    last = rows[-1]
    step, seconds = int(last["step"]), float(last["seconds"])
    result["steps"]["train"]["figures"] = {"steps": step, "loop_seconds": seconds, "steps_per_s": step / seconds,
                                           "last_loss": float(last["loss"])}
result["nvidia_smi"] = text("nvidia-smi.log")
result["install"] = text("install.log")
(out / "gpu_check.json").write_text(json.dumps(result, indent=1))
print(f"wrote {out / 'gpu_check.json'}")
PYEOF
rm -rf "$WORK"
