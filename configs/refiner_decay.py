"""Stage 3 (configs/refiner_converge.py) with its refiner's updates
decaying, the k-th scaled by γ^k = 0.85^k (`network.refine_decay`): the
bundled network until configs/refiner_takeover.py, which builds on it.

Stage 3's refiner still creeps slowly past about step 8 (figures: the
README's "Stage 3"); decaying updates add up to a bounded move, so a fit
settles however long it runs. The decay scales updates and changes no
parameter: `experiments/train_default.sh` exported stage 3's checkpoint
with this config before the takeover config. Training stage 3 with it as
well (`experiments.train` with this config, the decay inside the training
unroll) was measured and not kept: the refiner learned larger updates and
crept again (the README's "Stage 3").
"""

from configs import refiner_converge


def get_config():
  config = refiner_converge.get_config()
  config.network.refine_decay = 0.85
  return config
