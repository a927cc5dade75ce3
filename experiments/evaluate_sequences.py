r"""Fits synthetic and PoseTrack video sequences with and without warm start
and smoothing, and writes a report (`lgd_jax.evaluation.videos`).

  python -m experiments.evaluate_sequences --config=configs/sequences.py \
      --output=experiments/reports/evaluate_sequences.json

Override any field, e.g. --config.splits.val.num_videos=2
--config.sigmas="(0.0,2.0)".
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from lgd_jax.evaluation import videos as sequence_evaluation
from lgd_jax.files import save_json

_CONFIG = config_flags.DEFINE_config_file("config", "configs/sequences.py",
                                          "Sequences and methods.")
_OUTPUT = flags.DEFINE_string("output", "outputs/evaluate_sequences.json",
                              "JSON report to write.")


def main(argv):
  del argv
  report = sequence_evaluation.evaluate_videos(_CONFIG.value)
  report["config"] = _CONFIG.value.to_dict()
  save_json(_OUTPUT.value, report)
  print(f"wrote {_OUTPUT.value}")


if __name__ == "__main__":
  app.run(main)
