"""Stage 3 with chained starts: a share of the refiner's training unrolls
are chains kept from step to step, each a person moving a little every
step and fitted on from where its last unroll was after `num_steps`
steps, as a video fitted with warm starts from the previous frame's fit
(lgd_jax.training.starts)."""

from configs import refiner_converge


def get_config():
  config = refiner_converge.get_config()
  config.starts.chained_prob = 0.3
  return config
