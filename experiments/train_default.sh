#!/usr/bin/env bash
# Retrains the bundled network (lgd_jax/assets/lgd_default.npz) in its three
# stages: configs/refiner.py from scratch, exported to outputs/refiner.npz;
# configs/refiner_tilted.py on from that file, exported to
# outputs/refiner_tilted.npz; configs/refiner_converge.py (the refiner alone,
# 16 unrolled steps) on from that one, exported with
# configs/refiner_takeover.py (the same parameters, the refiner's updates
# decaying and the refiner taking over after 3 steps). Rerunning resumes
# each stage from its last checkpoint.
#   bash experiments/train_default.sh [OUTPUT]   # default: the bundled file
set -euo pipefail
python=${PYTHON:-python}
output=${1:-lgd_jax/assets/lgd_default.npz}
stage() {  # config, workdir, exported file[, config to export with]
  "$python" -m experiments.train --config="$1" --workdir="$2"
  "$python" -m experiments.export_weights --config="${4:-$1}" \
      --workdir="$2" --output="$3"
}
stage configs/refiner.py outputs/train_refiner outputs/refiner.npz
stage configs/refiner_tilted.py outputs/train_refiner_stage2 \
    outputs/refiner_tilted.npz
stage configs/refiner_converge.py outputs/train_refiner_stage3 "$output" \
    configs/refiner_takeover.py
