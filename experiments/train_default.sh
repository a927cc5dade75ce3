#!/usr/bin/env bash
# Trains fit's default network in three stages: configs/refiner.py from
# scratch, exported to outputs/refiner.npz; configs/refiner_tilted.py on from
# that file, exported to outputs/refiner_tilted.npz;
# configs/refiner_converge.py (the refiner alone) over 8 unrolled steps on
# from that one, exported with configs/refiner_unroll8.py (the same
# parameters, the refiner's updates decaying). Each stage exports a moving
# average of its parameters, and stage 1 draws with seed 1, a better draw
# of this code than seed 0. Every stage's network also sees each keypoint's
# residual (README, "The residual as an input").
# Stages 2 and 3 let the refiner take over after 3 steps, as `fit`
# does with the bundled file, so the first network learns a 3-step path, and
# bend 15 % of the people's legs at random (sitting, squatting, kneeling).
# Rerunning resumes each stage from its last checkpoint, so remove
# outputs/train_refiner* workdirs left from another recipe first.
#   bash experiments/train_default.sh [OUTPUT]   # default: the bundled file
set -euo pipefail
python=${PYTHON:-python}
output=${1:-lgd_jax/assets/lgd_default.npz}
residual="--config.network.inputs=('x','grad','theta','residual')"
takeover=--config.network.refine_after=3
unroll=--config.train_unroll_steps=8
legs=--config.data.bent_legs_prob=0.15
draw=--config.seed=1
# Moving averages of each stage (the start's weight left: 0.1 %, 1.8 %, 0.7 %).
average1=--config.optimizer.ema_decay=0.999
average2=--config.optimizer.ema_decay=0.998
average3=--config.optimizer.ema_decay=0.99
stage() {  # config, workdir, exported file, config to export with[, overrides]
  local config=$1 workdir=$2 exported=$3 export_config=$4
  shift 4
  "$python" -m experiments.train --config="$config" --workdir="$workdir" "$@"
  "$python" -m experiments.export_weights --config="$export_config" \
      --workdir="$workdir" --output="$exported" "$@"
}
stage configs/refiner.py outputs/train_refiner outputs/refiner.npz \
    configs/refiner.py "$residual" "$draw" "$average1"
stage configs/refiner_tilted.py outputs/train_refiner_stage2 \
    outputs/refiner_tilted.npz configs/refiner_tilted.py "$residual" \
    "$takeover" "$legs" "$average2"
stage configs/refiner_converge.py outputs/train_refiner_stage3 "$output" \
    configs/refiner_unroll8.py "$residual" "$takeover" "$legs" "$unroll" \
    "$average3"
