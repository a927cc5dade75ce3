#!/usr/bin/env bash
# Retrains the bundled network (lgd_jax/assets/lgd_default.npz) in its two
# stages: configs/refiner.py from scratch, exported to outputs/refiner.npz,
# then configs/refiner_tilted.py on from that file. Rerunning resumes each
# stage from its last checkpoint.
#   bash experiments/train_default.sh [OUTPUT]   # default: the bundled file
set -euo pipefail
python=${PYTHON:-python}
output=${1:-lgd_jax/assets/lgd_default.npz}
"$python" -m experiments.train --config=configs/refiner.py \
    --workdir=outputs/train_refiner
"$python" -m experiments.export_weights --config=configs/refiner.py \
    --workdir=outputs/train_refiner --output=outputs/refiner.npz
"$python" -m experiments.train --config=configs/refiner_tilted.py \
    --workdir=outputs/train_refiner_stage2
"$python" -m experiments.export_weights --config=configs/refiner_tilted.py \
    --workdir=outputs/train_refiner_stage2 --output="$output"
