"""The released code's layout (configs/released_code.py: an init network,
separate pose and shape networks, 3 steps of 0.1·N_w) trained to converge
on pose set v2: views and detectors like real inputs and perturbed-truth
starts (configs/ablation.py INGREDIENTS; its loss already has the
reprojection terms), one unrolled training step more than the 3 used at
test time. 2,800 optimizer steps of 512 people: each costs ~2× the
default's, so the run fits in about an hour on a 2-core CPU."""

from configs import ablation
from configs import released_code


def get_config():
  config = released_code.get_config()
  ablation.add_ingredients(config, ("views", "starts"))
  config.train_unroll_steps = 4
  config.train_steps = 2800
  config.optimizer.decay_every = 400  # the default's total decay, ×0.8^7
  return config
