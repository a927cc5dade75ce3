"""The default layout trained to converge on pose set v2: views and
detectors like real inputs, perturbed-truth starts, 6 unrolled training
steps (4 at test time), the reprojection terms and pose augmentation
(configs/ablation.py INGREDIENTS; each measured there at a small budget).
Half the default's 7,000 optimizer steps: each costs ~2.5× the default's
(the longer unroll, the joint terms), and the run fits in ~70 minutes on a
2-core CPU."""

from configs import ablation
from configs import default


def get_config():
  config = default.get_config()
  ablation.add_ingredients(config, ("views", "starts", "reprojection",
                                    "mirror", "mix"))
  config.train_unroll_steps = 6
  config.train_steps = 3500
  config.optimizer.decay_every = 500  # the default's total decay, ×0.8^7
  return config
