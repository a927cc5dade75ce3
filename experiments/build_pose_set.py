r"""Builds lgd_jax/assets/pose_set.npz from the mocap under ../shared/data.

Run from the repository root:

  python -m experiments.build_pose_set [--config.dedup_threshold=0.03 ...]

Writes the pose set, experiments/reports/build_pose_set.json (counts, bone
direction cosines, source checks, timing) and docs/retargeting.png.
"""

import json
import os

from absl import app
from absl import logging
from ml_collections import config_flags

from lgd_jax.body import load_body_model
from lgd_jax.build import figures, pose_set

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(__file__), os.pardir, "configs",
                           "build_pose_set.py"), "Build configuration.")


def main(argv):
  del argv
  config = _CONFIG.value
  model = load_body_model()
  report, samples = pose_set.build_pose_set(
      config.mocap_root, config.output, model,
      validation=config.validation.to_dict(),
      dedup_threshold=config.dedup_threshold, cmu_step=config.cmu_step,
      num_pictures=config.num_pictures, seed=config.seed)
  if config.pictures:
    figures.save_retarget_figure(config.pictures, samples, model)
  os.makedirs(os.path.dirname(os.path.abspath(config.report)), exist_ok=True)
  with open(config.report, "w", encoding="utf-8") as f:
    json.dump(report, f, indent=2)
    f.write("\n")
  logging.info("Wrote %s (%.2f MB, %d poses) in %.1f s and %s", config.output,
               report["file_mb"], report["total_kept_frames"],
               report["build_seconds"], config.report)


if __name__ == "__main__":
  app.run(main)
