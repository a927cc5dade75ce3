"""Ablations of the learned optimizer, all trained with one small budget
(256 features, 1,500 steps of 256 people) so that they compare with each
other, not with the default's figures.

  --config=configs/ablation.py:inputs=x+grad    # what the update sees
  --config=configs/ablation.py:steps=3          # unroll length N
  --config=configs/ablation.py:released         # the released code's layout
  --config=configs/ablation.py                  # the reference: x, ∇ and Θ, N = 4
  --config=configs/ablation.py:with=views+starts   # training ingredients

`with=` adds the named `INGREDIENTS` to the reference, in any number.
"""

from configs import default
from configs import released_code

# What the convergence work adds to training, one entry each, so that each
# can be measured alone and in combination.
INGREDIENTS = {
    # Views and detectors like real inputs (the evaluation's `elevated`,
    # `truncated` and `detector` profiles, each for a share of the people).
    "views": dict(data=dict(pitch_range_deg=(-20.0, 60.0),
                            roll_range_deg=(-10.0, 10.0), truncate_prob=0.3,
                            detector=0.5, swap_prob=0.02)),
    # Half the people start from the truth perturbed (lgd_jax.training.
    # starts), the rest from the network's initial estimate.
    "starts": dict(starts=dict(perturbed_prob=0.5, scale=(0.03, 1.0))),
    # Train on 8 unrolled steps (the loss on each), 4 at test time.
    "unroll8": dict(train_unroll_steps=8),
    # 12 unrolled steps: the refiner's steps 5-12 trained from its own
    # outputs, so that it learns to stay put past step 8 too.
    "unroll12": dict(train_unroll_steps=12),
    # Updates see their step: N codes for the path from Θ_0, one shared by
    # every later step and by warm starts (network.py; N = 4 here).
    "stepcodes": dict(network=dict(step_codes=5)),
    # A second network (the refiner) for every step after the first N from
    # Θ_0 and every step from a warm start (network.py; N = 4 here).
    "refiner": dict(network=dict(refine_after=4)),
    # `views` for shares of the people, so that most still see the
    # ordinary view the in-domain benchmarks have.
    "someviews": dict(data=dict(pitch_range_deg=(-20.0, 60.0),
                                roll_range_deg=(-10.0, 10.0),
                                tilt_range_prob=0.3, truncate_prob=0.2,
                                detector=0.3, swap_prob=0.02)),
    # The released code's 0.3·weighted L1 on the 2D and 3D joints.
    "reprojection": dict(loss=dict(keypoints2d=0.3, joints3d=0.3)),
    "mirror": dict(data=dict(mirror_prob=0.5)),
    "mix": dict(data=dict(mix_prob=0.2)),
}


def add_ingredients(config, names):
  """`config` with the named `INGREDIENTS` applied, in order."""
  for name in names:
    if name not in INGREDIENTS:
      raise ValueError(f"unknown ingredient {name!r}: {sorted(INGREDIENTS)}")
    for field, value in INGREDIENTS[name].items():
      if isinstance(value, dict) and field in config:
        config[field].update(value)
      else:
        config[field] = value
  return config


def get_config(spec: str = ""):
  config = (released_code if spec == "released" else default).get_config()
  if spec.startswith("inputs="):
    config.network.inputs = tuple(spec[len("inputs="):].split("+"))
  elif spec.startswith("steps="):
    config.num_steps = int(spec[len("steps="):])
  elif spec.startswith("with="):
    add_ingredients(config, spec[len("with="):].split("+"))
  elif spec not in ("", "released"):
    raise ValueError(f"unknown ablation {spec!r}: use inputs=a+b, steps=N, "
                     "with=a+b or released")
  config.network.features = 256
  config.data.batch_size = 256
  config.train_steps = 1500
  config.optimizer.decay_every = 300  # lr ×0.8 five times over the run
  config.eval_every = 1500
  config.checkpoint_every = 500
  return config
