r"""Runs fitting methods on the synthetic benchmarks and writes a report.

  python -m experiments.evaluate --config=configs/evaluate.py \
      --output=experiments/reports/evaluate.json --figure=docs/steps.png
  python -m experiments.evaluate --config=configs/evaluate.py:ablations \
      --output=experiments/reports/ablations.json

Methods and benchmarks come from the config (override any field, e.g.
--config.num_people=256 --config.methods.lgd.weights=outputs/other.npz).
One line per (method, benchmark) goes to stdout as it finishes; the JSON
report, saved after every result, has every metric and the per-step curves
(rerunning keeps the results already in it, unless --noresume); the figure
shows PA-MPJPE after each step or iteration on the config's
`figure_profile`.
"""

import json
import os

from absl import app
from absl import flags
from ml_collections import config_flags

from lgd_jax.evaluation import benchmarks
from lgd_jax.evaluation import methods
from lgd_jax.files import save_json

_CONFIG = config_flags.DEFINE_config_file("config", "configs/evaluate.py",
                                          "Benchmarks and methods.")
_OUTPUT = flags.DEFINE_string("output", "outputs/evaluate.json",
                              "JSON report to write.")
_FIGURE = flags.DEFINE_string("figure", None,
                              "PNG of error against step; none if unset.")
_METHODS = flags.DEFINE_list("methods", None,
                             "Only these of the config's methods.")
_RESUME = flags.DEFINE_bool(
    "resume", True, "Keep the results of an existing --output of the same "
    "config (the report is saved after every result).")


def main(argv):
  del argv
  config = _CONFIG.value
  names = _METHODS.value or list(config.methods)
  unknown = set(names) - set(config.methods)
  if unknown:
    raise app.UsageError(f"--methods: not in the config: {sorted(unknown)}")
  makers = {name: methods.make_method(config.methods[name], config.pose_set)
            for name in names}
  previous = None
  if os.path.exists(_OUTPUT.value) and _RESUME.value:
    with open(_OUTPUT.value, encoding="utf-8") as f:
      previous = json.load(f)

  def save(report):  # after every result: a crash loses nothing
    save_json(_OUTPUT.value, report)

  report = benchmarks.evaluate_benchmarks(config, makers, on_result=save,
                                         previous=previous)
  save(report)
  print(f"wrote {_OUTPUT.value}")
  if _FIGURE.value:
    benchmarks.save_step_figure(_FIGURE.value, report, config.figure_profile)
    print(f"wrote {_FIGURE.value}")


if __name__ == "__main__":
  app.run(main)
