r"""Trains the learned optimizer.

  python -m experiments.train --config=configs/default.py --workdir=outputs/train

Rerunning with the same --workdir resumes from the latest checkpoint. Set
--distributed on multi-host TPU/GPU jobs (calls jax.distributed.initialize).
"""

from absl import app
from absl import flags
import jax
from ml_collections import config_flags

from lgd_jax.training import trainer as training

_CONFIG = config_flags.DEFINE_config_file("config", "configs/default.py",
                                          "Training configuration.")
_WORKDIR = flags.DEFINE_string("workdir", "outputs/train",
                               "Checkpoints, TensorBoard events, metrics.")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False,
                                 "Call jax.distributed.initialize() first.")


def main(argv):
  del argv
  if _DISTRIBUTED.value:
    jax.distributed.initialize()
  training.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
