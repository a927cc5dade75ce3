"""The bundled network: stage 3 trained over 8 unrolled steps instead of
16 (`train_unroll_steps`, passed to configs/refiner_converge.py by
`experiments/train_default.sh`), exported with the refiner taking over
after 3 steps (configs/refiner_takeover.py) and its k-th update scaled by
0.65^k instead of 0.85^k.

The shorter unroll weighs the refiner's first updates more: `fit`'s 4th
step, the refiner's first, which no decay scales, comes out better, and
the stronger decay holds the later steps down, so 16 steps still end no
worse than 4. Exporting with this config changes no parameter (figures:
the README's "The unroll of 8 with a stronger decay").
"""

from configs import refiner_takeover


def get_config():
  config = refiner_takeover.get_config()
  config.train_unroll_steps = 8
  config.network.refine_decay = 0.65
  return config
