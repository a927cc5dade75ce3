"""Stage 3 of the bundled network: its refiner trained on alone over 16
unrolled steps, so that running longer, or from a warm start, keeps the
error down (`experiments/train_default.sh` overrides the unroll to 8 and
exports with configs/refiner_unroll8.py, whose decay holds the later
steps down; figures: the README's "The unroll of 8 with a stronger
decay").

Stages 1 and 2 (configs/refiner.py, configs/refiner_tilted.py) unroll 8
steps in training, and past about step 8 their fits creep (the README's
"Stage 2"). This stage starts from stage 2's export (`init_weights`),
holds everything but the refiner as it is (`train_refiner_only`: the
first network's steps from Θ_0 are unchanged) and
unrolls 16 steps, the loss on each, with stage 2's data, for 500 steps
(the 30 benchmarks preferred them to 1,000). What it buys: the README's
"Stage 3".
"""

from configs import refiner_tilted


def get_config():
  config = refiner_tilted.get_config()
  config.init_weights = "outputs/refiner_tilted.npz"
  config.train_refiner_only = True
  config.train_unroll_steps = 16
  config.train_steps = 500
  return config
