"""The paper's layout with a refiner, trained to converge on pose set v2.

The paper's network makes the first N = 4 updates from Θ_0, the path to the
answer; a second network of the same shape (the refiner,
`network.refine_after`) makes every later update and every update from a
warm start (a previous frame's fit), and is trained to stay at the answer:
from the path's own outputs (8 unrolled steps, the loss on each) and from
perturbed-truth starts (30 % of the people). Views and detectors like real
inputs (`views`), but the elevated camera for half the people only, so
that the other half see the view of the in-domain benchmarks; the
reprojection terms make unexplained visible points cost something
(configs/ablation.py INGREDIENTS, measured there at a small budget). The
default's 7,000 optimizer steps of 512 people: the first of the three
stages of `experiments/train_default.sh` (its time: the README's "The
pretrained default").
"""

from configs import ablation
from configs import default


def get_config():
  config = default.get_config()
  ablation.add_ingredients(config, ("views", "starts", "reprojection",
                                    "unroll8"))
  config.data.tilt_range_prob = 0.5
  config.starts.perturbed_prob = 0.3
  config.network.refine_after = config.num_steps
  return config
