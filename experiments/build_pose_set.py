r"""Builds lgd_jax/assets/pose_set.npz from the mocap under ../shared/data.

Run from the repository root:

  python -m experiments.build_pose_set [--config.dedup_threshold=0.03 ...]

Writes the pose set, experiments/reports/build_pose_set.json (counts,
coverage, bone direction cosines, source checks, timing),
docs/retargeting.png and docs/pose_set_v2.png (random kept poses of each
dataset).
"""

import os

from absl import app
from absl import logging
from ml_collections import config_flags
import numpy as np

from lgd_jax.body import load_body_model
from lgd_jax.build import figures, pose_set
from lgd_jax.files import save_json

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(__file__), os.pardir, "configs",
                           "build_pose_set.py"), "Build configuration.")


def random_poses_per_dataset(path, count: int, seed: int):
  """[(label, (count, 72) poses)]: `count` random kept poses of each dataset
  of the pose-set file `path`, in file order (sorted by dataset)."""
  rng = np.random.default_rng(seed)
  with np.load(path, allow_pickle=False) as f:
    datasets = f["clip_datasets"][f["clip_ids"]]
    splits = f["clip_splits"]
    rows = []
    for dataset in np.unique(f["clip_datasets"]):
      rows_of = np.flatnonzero(datasets == dataset)
      picked = np.sort(rng.choice(rows_of, count, replace=False))
      in_splits = "/".join(sorted(set(
          splits[f["clip_datasets"] == dataset].tolist())))
      rows.append((f"{dataset}\n({in_splits})",
                   f["poses"][picked].astype(np.float32)))
  return rows


def main(argv):
  del argv
  config = _CONFIG.value
  model = load_body_model()
  report, samples = pose_set.build_pose_set(
      config.mocap_root, config.output, model,
      validation=config.validation.to_dict(),
      other_sources=config.other_sources.to_dict(),
      dedup_threshold=config.dedup_threshold, cmu_step=config.cmu_step,
      num_pictures=config.num_pictures, seed=config.seed)
  if config.pictures:
    figures.save_retarget_figure(config.pictures, samples, model)
  if config.grid:
    figures.save_pose_grid(config.grid, random_poses_per_dataset(
        config.output, config.grid_columns, config.seed), model)
  save_json(config.report, report, indent=2)
  logging.info("Wrote %s (%.2f MB, %d poses) in %.1f s and %s", config.output,
               report["file_mb"], report["total_kept_frames"],
               report["build_seconds"], config.report)


if __name__ == "__main__":
  app.run(main)
