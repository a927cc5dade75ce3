"""Ablations of the learned optimizer, all trained with one small budget
(256 features, 1,500 steps of 256 people) so that they compare with each
other, not with the default's figures.

  --config=configs/ablation.py:inputs=x+grad    # what the update sees
  --config=configs/ablation.py:steps=3          # unroll length N
  --config=configs/ablation.py:released         # the released code's layout
  --config=configs/ablation.py                  # the reference: all inputs, N = 4
"""

from configs import default
from configs import released_code


def get_config(spec: str = ""):
  config = (released_code if spec == "released" else default).get_config()
  if spec.startswith("inputs="):
    config.network.inputs = tuple(spec[len("inputs="):].split("+"))
  elif spec.startswith("steps="):
    config.num_steps = int(spec[len("steps="):])
  elif spec not in ("", "released"):
    raise ValueError(f"unknown ablation {spec!r}: use inputs=a+b, steps=N "
                     "or released")
  config.network.features = 256
  config.data.batch_size = 256
  config.train_steps = 1500
  config.optimizer.decay_every = 300  # lr ×0.8 five times over the run
  config.eval_every = 1500
  config.checkpoint_every = 500
  return config
