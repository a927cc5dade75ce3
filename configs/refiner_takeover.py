"""The bundled network until configs/refiner_unroll8.py, which builds on
it: stage 3's parameters (configs/refiner_converge.py), its refiner's
updates decaying (configs/refiner_decay.py) and the refiner taking over
from the first network after 3 steps instead of 4
(`network.refine_after`), so that `fit`'s default 4 steps from Θ_0 are 3 of
the path and 1 of the refiner.

The refiner's first update from the path's 3rd step does better than the
path's own 4th for about the same cost. Exporting with this config, like
the decay, changes no parameter; `experiments/train_default.sh` trains
stages 2 and 3 with the takeover at 3 as well
(`--config.network.refine_after=3`), so that the first network learns a
3-step path, and exported stage 3's checkpoint with this config until the
unroll of 8 (figures: the README's "The refiner takes over at step 4").
"""

from configs import refiner_decay


def get_config():
  config = refiner_decay.get_config()
  config.network.refine_after = 3
  return config
