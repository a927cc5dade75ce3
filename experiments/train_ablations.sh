#!/usr/bin/env bash
# Trains and exports every ablation network of configs/ablation.py (the
# list: configs/evaluate.py ABLATIONS; the same small budget each, ~3-5 min
# apiece on a 2-core CPU), then evaluates them:
#   bash experiments/train_ablations.sh
# Reruns skip networks already exported.
set -euo pipefail
python=${PYTHON:-python}
# One line per ablation: its config spec (may be empty) and its weight file.
"$python" -c 'from configs.evaluate import ABLATIONS, ablation_weights
for spec in ABLATIONS: print(f"{spec}|{ablation_weights(spec)}")' |
while IFS="|" read -r spec weights; do
  [[ -f "$weights" ]] && continue
  workdir="${weights%.npz}"
  "$python" -m experiments.train --config="configs/ablation.py:${spec}" \
      --workdir="$workdir" --config.progress=false
  "$python" -m experiments.export_weights \
      --config="configs/ablation.py:${spec}" --workdir="$workdir" \
      --output="$weights"
done
"$python" -m experiments.evaluate --config=configs/evaluate.py:ablations \
    --output=experiments/reports/ablations.json
