"""Stage 2 (`configs/refiner_tilted.py`) with the training people turned
upright the way `fit` turns them.

`fit` turns a person whose body axis is more than 30° off the image's
vertical upright before the learned steps (`fit(upright_beyond_deg=30)`,
the README's "Upright in the image"); the networks were trained on people
as the camera saw them, so the turned inputs of lying people were new to
them. Here the training batches are turned by the same rule
(`data.upright_beyond_deg`), so the network learns the inputs it will be
given. What it buys: the README's "Upright in the image".
"""

from configs import refiner_tilted


def get_config():
  config = refiner_tilted.get_config()
  config.data.upright_beyond_deg = 30.0
  return config
