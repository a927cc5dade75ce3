"""Gradient-descent baseline
(lgd_jax.evaluation.baselines.gradient_descent): Adam on all of Θ from
Θ = 0.

  --config=configs/gradient_descent.py          # plain: reprojection only
  --config=configs/gradient_descent.py:priors   # "gradient descent with
                                                # priors": SMPLify's last
                                                # stage, unstaged

Prior weights are in the units of configs/smplify.py.
"""

import ml_collections
from ml_collections import config_dict

from configs import smplify


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.iterations = 1000
  # Large enough to reach the 2D noise's level within the iterations
  # (without priors it then over-fits the noise: see the README's
  # per-iteration curve).
  config.learning_rate = 0.01
  # None: the plain squared error (the learned optimizer's inner loss);
  # a float: Geman–McClure with that scale, normalised units.
  config.robust_sigma = config_dict.placeholder(float)
  config.pose_prior = 0.0
  config.bend_prior = 0.0
  config.shape_prior = 0.0
  if variant == "priors":
    # SMPLify's robust term and final prior weights, from Θ = 0 with no
    # camera stage or annealing.
    reference = smplify.get_config()
    config.robust_sigma = reference.robust_sigma
    for name in ("pose_prior", "bend_prior", "shape_prior"):
      config[name] = reference.stages[-1][name]
  elif variant:
    raise ValueError(f"unknown variant {variant!r}: '' or 'priors'")
  return config
