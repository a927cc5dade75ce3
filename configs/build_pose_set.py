"""Config of experiments/build_pose_set.py: the bundled mocap pose set."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.mocap_root = "../shared/data/mocap"
  config.output = "lgd_jax/assets/pose_set.npz"
  config.report = "experiments/reports/build_pose_set.json"
  config.pictures = "docs/retargeting.png"  # "" skips the picture
  config.num_pictures = 12
  config.seed = 0
  # Frames of a clip closer than this mean joint distance (pelvis-centred,
  # heading removed) to an already kept frame are dropped, metres.
  config.dedup_threshold = 0.03
  config.cmu_step = 4  # CMU is 120 fps; Bandai-Namco is 30 fps
  # Validation clips per Bandai-Namco folder: (clip number, modulus,
  # remainder). bandai-namco-2's file ids are 1, 6, 11, ...: ids = 6 mod 10
  # are half of its clips. bandai-namco-1's file ids are only 001 and 002,
  # so its clips are numbered by position in sorted file-name order.
  config.validation = {
      "bandai-namco-1": ("position", 10, 3),
      "bandai-namco-2": ("file_id", 10, 6),
  }
  # The staged sources (`lgd_jax.build.sources`), clips numbered by position
  # in sorted order: a (clip number, modulus, remainder) rule for those
  # trained on, or the split that all of a source's clips go to.
  # cmu-daz: 10 of 97 clips; remainder 3 keeps its trials 07_01, 08_02 and
  # 09_11 in train with the AMP walk and run made from them. AMP: its hop,
  # likely from CMU 01_01 (forward jumps, CMU's split), stays out of train.
  # DeepMimic: jog and walk, which have near twins (run, stealthy walk) in
  # train, so no unique motion is lost. HDM05 is CC BY-SA 3.0, which cannot
  # join Bandai-Namco's NC terms in a trained network: evaluation only.
  config.other_sources = {
      "cmu-daz": ("position", 10, 3),
      "deepmimic": ("position", 10, 9),
      "amp-cmu": ("position", 10, 4),
      "hdm05": "hdm05",
  }
  config.grid = "docs/pose_set_v2.png"  # "" skips the grid of poses
  config.grid_columns = 6
  return config
