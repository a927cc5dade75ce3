"""A narrower refiner behind the bundled path: stage 3 with a fresh
refiner of 384 features (`network.refiner_features`) trained alone from
scratch, so that each step after the path's costs about 0.3 of one of
its steps and `fit` can take more of them for the same time (figures: the
README's "A narrower refiner").

It starts from stage 2's export (`init_weights`, as configs/refiner_converge.py
does; `experiments/train_default.sh` writes it): the path's parameters are
kept and held, the refiner's, of another width, start fresh, so it trains
longer than stage 3 and at the first stage's learning rate.
"""

from configs import refiner_converge


def get_config():
  config = refiner_converge.get_config()
  config.network.refiner_features = 384
  config.train_steps = 2000
  config.optimizer.learning_rate = 1e-3
  config.optimizer.warmup_steps = 200
  config.optimizer.decay_every = 500
  return config
