"""Config of experiments/make_openpose_folder.py: a long synthetic video as
a folder of OpenPose JSON files, for lgd-fit's throughput and memory
(benchmarks/bench_cli.py)."""

import ml_collections

from configs import build_pose_set
from configs import sequences


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.output = "outputs/openpose_10k"
  config.num_files = 10_000
  config.num_people = 10  # 100,000 people in all
  config.segment = 250  # frames per synthetic segment (clips are short)
  config.seed = 0
  config.mocap_root = "../shared/data/mocap"
  # The held-out clips, retargeted once (shared with evaluate_sequences).
  config.clips_cache = sequences.get_config().clips_cache
  config.validation = build_pose_set.get_config().validation
  config.cmu_step = 4
  return config
