r"""Writes a long synthetic video from held-out mocap as OpenPose JSON files.

  python -m experiments.make_openpose_folder [--config.num_files=10000]

One file per frame, 10 people per frame by default (`configs/
openpose_folder.py`); then time lgd-fit on it with benchmarks/bench_cli.py.
The poses derive from Bandai-Namco validation clips: CC BY-NC 4.0.
"""

from absl import app
from ml_collections import config_flags

import lgd_jax
from lgd_jax.evaluation import synthetic_videos as videos

_CONFIG = config_flags.DEFINE_config_file(
    "config", "configs/openpose_folder.py", "Folder size and source clips.")


def main(argv):
  del argv
  config = _CONFIG.value
  clips = videos.held_out_clips(
      config.mocap_root, lgd_jax.load_body_model(),
      validation=config.validation, cmu_step=config.cmu_step,
      cache=config.clips_cache or None)["val"]
  people = videos.write_openpose_folder(
      config.output, clips, num_files=config.num_files,
      num_people=config.num_people, segment=config.segment, seed=config.seed)
  print(f"wrote {people} people in {config.num_files} files to "
        f"{config.output}")


if __name__ == "__main__":
  app.run(main)
