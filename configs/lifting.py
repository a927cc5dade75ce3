"""Direct lifting, the paper's non-iterative baseline: an MLP regresses Θ
from the normalised 2D keypoints in one shot (the released code's init
network with no update steps), trained like the default (same network
width, data, steps and batch) on the parameter loss of its one estimate."""

from configs import default


def get_config():
  config = default.get_config()
  config.num_steps = 0
  config.network.init_network = True
  return config
