#!/usr/bin/env bash
# Trains and exports every ablation network of configs/ablation.py (the
# lists: configs/evaluate.py ABLATIONS, or CONVERGE_ABLATIONS with the
# argument `converge`; the same small budget each, ~3-5 min apiece on a
# 2-core CPU, twice that with 8 unrolled steps), then evaluates them:
#   bash experiments/train_ablations.sh            # layout ablations
#   bash experiments/train_ablations.sh converge   # training ingredients
# Reruns skip networks already exported; the evaluation is made anew.
set -euo pipefail
python=${PYTHON:-python}
which=${1:-}
case "$which" in
  "") list=ABLATIONS; evaluation=ablations ;;
  converge) list=CONVERGE_ABLATIONS; evaluation=converge ;;
  *) echo "usage: $0 [converge]" >&2; exit 2 ;;
esac
# One line per ablation: its config spec (may be empty) and its weight file.
"$python" -c "from configs.evaluate import $list, ablation_weights
for spec in $list: print(f'{spec}|{ablation_weights(spec)}')" |
while IFS="|" read -r spec weights; do
  [[ -f "$weights" ]] && continue
  workdir="${weights%.npz}"
  "$python" -m experiments.train --config="configs/ablation.py:${spec}" \
      --workdir="$workdir" --config.progress=false
  "$python" -m experiments.export_weights \
      --config="configs/ablation.py:${spec}" --workdir="$workdir" \
      --output="$weights"
done
"$python" -m experiments.evaluate --config="configs/evaluate.py:$evaluation" \
    --noresume --output="experiments/reports/$evaluation.json"
