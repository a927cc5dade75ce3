"""Stage 3 with drifted starts: a share of the refiner's training unrolls
start where the network's own fit has got to after 8 to 48 steps."""

from configs import refiner_converge


def get_config():
  config = refiner_converge.get_config()
  config.starts.drifted_prob = 0.3
  return config
