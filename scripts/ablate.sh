#!/usr/bin/env bash
# One row of the README's ablation table: train the model without one part, evaluate it on the same test
# questions as the default model, and print the paired comparison.
#
#   bash scripts/ablate.sh guide|retrieval|experts|ndl BENCH RUNS
#
# BENCH is a manifest (python -m core.data build); RUNS/default must hold the default run, trained with
#   python -m core.train --data BENCH --out RUNS/default $TRAIN_ARGS
# 'guide' and 'retrieval' change what the align stage trains, so they train every stage again; 'experts'
# and 'ndl' only change the instruct stage, so they retrain it from RUNS/default/align.
# TRAIN_ARGS (default: the shipped model's cpu-small recipe) and EVAL_LIMIT (default 300) can be set.
set -euo pipefail

row=${1:-}
bench=${2:-}
runs=${3:-}
if [[ -z "$row" || -z "$bench" || -z "$runs" ]]; then
    echo "usage: bash scripts/ablate.sh guide|retrieval|experts|ndl BENCH RUNS" >&2
    exit 2
fi
if [[ ! -f "$runs/default/instruct/config.json" ]]; then
    echo "error: no default run in $runs/default (train it first, see the usage above)" >&2
    exit 2
fi
read -r -a train_args <<< "${TRAIN_ARGS:---recipe cpu-small seg.steps=1000 retriever.steps=400 instruct.steps=360}"
limit=${EVAL_LIMIT:-300}
out="$runs/no_$row"

case "$row" in
    guide | retrieval)
        python -m core.train --data "$bench" --out "$out" "${train_args[@]}" "model.${row}_enabled=false"
        model="$out/instruct" ;;
    experts)
        python -m core.train --stage instruct --init "$runs/default/align" --data "$bench" --out "$out" \
            "${train_args[@]}" model.experts_enabled=false
        model="$out" ;;
    ndl)
        python -m core.train --stage instruct --init "$runs/default/align" --data "$bench" --out "$out" \
            "${train_args[@]}" model.ndl_enabled=false
        model="$out" ;;
    *)
        echo "error: unknown row '$row': choose guide, retrieval, experts or ndl" >&2
        exit 2 ;;
esac

evaluate() {  # model dir, report dir: VQA and captioning, the figures the table reports
    [[ -f "$2/predictions.jsonl" ]] || python -m core.eval --model "$1" --data "$bench" --out "$2" \
        --tasks vqa,caption --limit "$limit" --quiet > /dev/null
}
evaluate "$runs/default/instruct" "$runs/default/eval-ablation"
evaluate "$model" "$out/eval-ablation"
python - "$runs/default/eval-ablation" "$out/eval-ablation" <<'EOF'
import json, sys
for name, path in zip(("default", "ablated"), sys.argv[1:]):
    r = json.load(open(f"{path}/results.json"))
    c, v = r["caption"], r["vqa"]
    print(f"{name}: VQA {v['accuracy']['overall']['accuracy']:.3f} (n={v['accuracy']['overall']['n']:.0f}), "
          f"counting RMSE {v['counting']['rmse']:.2f}, caption BLEU-1/ROUGE-1/METEOR "
          f"{c['bleu1']:.3f}/{c['rouge1']:.3f}/{c['meteor']:.3f} (n={c['n']})")
EOF
python -m core.eval.compare "$runs/default/eval-ablation" "$out/eval-ablation"
