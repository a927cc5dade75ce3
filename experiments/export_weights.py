r"""Exports a training run's latest checkpoint as fit()'s weight file
(`--average_last=K`: the mean of the last K kept checkpoints; `--noaveraged`:
the parameters, not their moving average).

  python -m experiments.export_weights --config=configs/default.py \
      --workdir=outputs/train_default --output=lgd_jax/assets/lgd_default.npz
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from lgd_jax.training import trainer as training

_CONFIG = config_flags.DEFINE_config_file("config", "configs/default.py",
                                          "The run's training config.")
_WORKDIR = flags.DEFINE_string("workdir", "outputs/train", "The run.")
_OUTPUT = flags.DEFINE_string("output", "lgd_jax/assets/lgd_default.npz",
                              "Weight file to write.")
_AVERAGE_LAST = flags.DEFINE_integer(
    "average_last", 1, "Export the mean of this many of the run's last "
    "kept checkpoints (`keep_checkpoints`).")
_AVERAGED = flags.DEFINE_boolean(
    "averaged", True, "Export the run's moving average of its parameters "
    "where it keeps one (`optimizer.ema_decay`); --noaveraged: the "
    "parameters themselves.")


def main(argv):
  del argv
  step = training.export_pretrained(_CONFIG.value, _WORKDIR.value,
                                    _OUTPUT.value, _AVERAGE_LAST.value,
                                    averaged=_AVERAGED.value)
  logging.info("wrote %s from step %d", _OUTPUT.value, step)


if __name__ == "__main__":
  app.run(main)
