"""A seconds-long config for tests: the default, scaled down."""

from configs import default


def get_config():
  config = default.get_config()
  config.network.features = 32
  config.network.num_blocks = 1
  config.data.batch_size = 16
  config.eval.num_batches = 1
  config.eval.data.batch_size = 32
  config.train_steps = 6
  config.log_every = 1
  config.eval_every = 3
  config.checkpoint_every = 2
  config.progress = False
  config.train_inline_unroll = False  # compiles faster
  return config
